"""The Streamlit app: ``streamlit run src/socialml/ui/app.py`` (project and env from SOCIALML_PROJECT, SOCIALML_ENV)."""

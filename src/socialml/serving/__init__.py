"""The model service (FastAPI) and the model loading it shares with the Streamlit app."""

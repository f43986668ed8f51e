"""SocialML: five ML systems for a social platform, as one Kedro project."""

__version__ = "0.1.0"

"""The embed widget: its static files and the demo page that embeds it."""

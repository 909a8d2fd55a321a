"""The web page to play and analyse: a FastAPI server (`server`), its SQLite store (`store`) and static page."""

"""Play: the GTP engine for Go GUIs and the web page to play and analyse in a browser."""

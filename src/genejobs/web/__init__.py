"""The web console: one page over the same REST API the clients use."""

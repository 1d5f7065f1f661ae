"""Built-in tools: workspace files, exec, web fetch and search, sessions, messaging."""

"""Skills on disk: finding SKILL.md folders, reading them on demand, installing them safely."""

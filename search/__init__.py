"""Full-text search: the Tantivy index actor and its event consumer (not built yet)."""

"""Full-text search over tasks.

    schema.py   Tantivy schema, task → document        query.py   predicates → Tantivy queries
    index.py    TaskIndex: one shard's files, writer, searches, commit positions
    actor.py    SearchShard Ray actor (commit loop, recovery, rebuild), ensure_search
    consumer.py the outbox consumer that feeds it        source.py  reads from PostgreSQL
    reindex.py  `taskhive reindex`                       scope.py   what a filter's words mean
    shards.py   organisation → shard actor               messages.py data crossing into the actor

See docs/search.md.
"""

"""Pure rules of Taskhive: entities, commands, events, errors.

Nothing here performs I/O or imports Ray, SQLAlchemy, Redis or FastAPI, so every
rule is testable in microseconds. Outer layers call these functions and persist
or publish what they return.
"""

"""Real-time delivery: websocket sessions, fan-out, presence, notifications (not built yet)."""

"""Workflows, boards, planning and sprints: one router for `serve_app.app` to include."""

from __future__ import annotations

from fastapi import APIRouter

from serve_app.routes import sprints, task_flow, workflow

router = APIRouter()
for _module in (workflow, task_flow, sprints):
    router.include_router(_module.router)

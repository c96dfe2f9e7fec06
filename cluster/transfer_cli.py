"""`taskhive import` and `taskhive export`: clients of a running server's API.

They authenticate with a personal API token (`--token` or `TASKHIVE_TOKEN`),
find the project by its key, and show progress: an import uploads the file,
prints the planning report, then follows the job until it ends; an export
streams the file to disk.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

POLL_S = 0.5


def add_commands(sub: Any) -> None:
    """Register `import` and `export` on the `taskhive` parser."""
    imp = sub.add_parser("import", help="import issues into a project (needs a running server)")
    imp.add_argument("source", choices=("jira", "csv", "taskhive"), help="the file's format")
    imp.add_argument("file", type=Path)
    imp.add_argument("--project", required=True, help="the project's key, e.g. WEB")
    imp.add_argument("--mapping", help='for csv: JSON {"title": "Name", "status": "State", ...}')
    imp.add_argument(
        "--create-statuses", action="store_true", help="add unknown statuses to the workflow"
    )
    imp.add_argument("--dry-run", action="store_true", help="only check the file")
    _connection_args(imp)
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export", help="export a project (needs a running server)")
    exp.add_argument("--project", required=True, help="the project's key, e.g. WEB")
    exp.add_argument("--format", choices=("json", "csv"), default="json")
    exp.add_argument("-o", "--output", type=Path, help="file to write (default KEY.format)")
    _connection_args(exp)
    exp.set_defaults(func=cmd_export)


def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("TASKHIVE_URL", "http://127.0.0.1:8000"),
        help="the server (TASKHIVE_URL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("TASKHIVE_TOKEN"),
        help="a personal API token, thp_… (TASKHIVE_TOKEN)",
    )


class CliError(Exception):
    pass


def _client(args: argparse.Namespace) -> httpx.Client:
    if not args.token:
        raise CliError("a token is needed: --token or TASKHIVE_TOKEN (create one in your profile)")
    return httpx.Client(
        base_url=args.url.rstrip("/"),
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=httpx.Timeout(30.0, read=300.0),
    )


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
    except ValueError:
        raise CliError(f"HTTP {response.status_code}: {response.text[:300]}") from None
    report = problem.get("report")
    if report:
        _print_report(report)
    raise CliError(f"{problem.get('title', 'error')}: {problem.get('detail', '')}")


def _project_id(client: httpx.Client, key: str) -> str:
    projects = _check(client.get("/api/v1/projects"))
    items = projects["items"] if isinstance(projects, dict) else projects
    for project in items:
        if project["key"].upper() == key.upper():
            return str(project["id"])
    raise CliError(f"no project with key {key!r} in this organisation")


def _print_report(report: dict[str, Any]) -> None:
    for kind in ("errors", "warnings"):
        problems = report.get(kind) or []
        total = report.get(f"{kind[:-1]}_count", len(problems))
        if not total:
            continue
        print(f"{total} {kind}:", file=sys.stderr)
        for p in problems[:50]:
            where = f"line {p['line']}" + (f", {p['column']}" if p.get("column") else "")
            print(f"  {where}: {p['reason']}", file=sys.stderr)
        if total > 50:
            print(f"  … and {total - 50} more", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    try:
        with _client(args) as client:
            project_id = _project_id(client, args.project)
            params: dict[str, Any] = {"source": args.source}
            if args.mapping:
                params["mapping"] = args.mapping
            if args.create_statuses:
                params["create_statuses"] = "true"
            if args.dry_run:
                params["dry_run"] = "true"
            job = _check(
                client.post(
                    f"/api/v1/projects/{project_id}/imports",
                    params=params,
                    content=args.file.read_bytes(),
                    headers={"Content-Type": "application/octet-stream"},
                )
            )
            _print_report(job["report"])
            if args.dry_run:
                print(f"{job['total']} issues would be imported")
                return 0
            job = _follow(client, project_id, job)
    except (CliError, OSError, httpx.HTTPError) as exc:
        print(f"taskhive import: {exc}", file=sys.stderr)
        return 1
    if job["status"] != "done":
        print(f"taskhive import: failed after {job['done']}: {job['error']}", file=sys.stderr)
        return 1
    print(f"imported {job['done']} issues into {args.project}")
    return 0


def _follow(client: httpx.Client, project_id: str, job: dict[str, Any]) -> dict[str, Any]:
    with tqdm(total=job["total"], unit="issue", desc="importing") as bar:
        while True:
            bar.update(job["done"] - bar.n)
            if job["status"] != "running":
                return job
            time.sleep(POLL_S)
            job = _check(client.get(f"/api/v1/projects/{project_id}/imports/{job['id']}"))


def cmd_export(args: argparse.Namespace) -> int:
    output: Path = args.output or Path(f"{args.project}.{args.format}")
    try:
        with _client(args) as client:
            project_id = _project_id(client, args.project)
            url = f"/api/v1/projects/{project_id}/export"
            with client.stream("GET", url, params={"format": args.format}) as response:
                if not response.is_success:
                    response.read()
                    _check(response)
                with (
                    output.open("wb") as out,
                    tqdm(unit="B", unit_scale=True, desc="exporting") as bar,
                ):
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        bar.update(len(chunk))
    except (CliError, OSError, httpx.HTTPError) as exc:
        print(f"taskhive export: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}")
    return 0

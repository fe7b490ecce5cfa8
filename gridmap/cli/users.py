"""``gridmap users add|list|disable|enable|reset``: accounts, roles and scopes (账号管理).

A new password (or an API client's key) is printed once; only its hash is stored. Disabling or
resetting an account revokes its tokens: at once in every process within a few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from gridmap.auth import accounts
from gridmap.cli.context import JsonOpt, console, emit, load_settings, transaction
from gridmap.db import accounts as stored
from gridmap.vocabulary import Role

app = typer.Typer(help="Accounts: who may log in, with which role and scope (账号).")


def _show_secret(made: dict[str, Any]) -> None:
    kind = "api_key" if made["role"] == Role.CLIENT else "password"
    console.print(f"{made['username']} ({made['role_zh']}): {kind} {made['secret']}")
    console.print("shown once: hand it over now; only its hash is kept")


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="login name: a–z, 0–9, . _ - @")],
    role: Annotated[Role, typer.Option(help="; ".join(f"{r.value} {r.zh}" for r in Role))],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="division or grid code (repeat); * alone: everything"),
    ] = None,
    worker_id: Annotated[int | None, typer.Option(help="grid_worker: their worker record")] = None,
    name: Annotated[str, typer.Option(help="display name / 姓名")] = "",
    rate: Annotated[
        int | None, typer.Option(help="requests a minute (default: 600 clients, 1200 people)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add an account; prints its generated password (or client key) once."""
    password = input().strip() if password_stdin else None
    with transaction(load_settings()) as session:
        account_id, secret = accounts.create(
            session,
            username=username,
            role=role,
            scope_codes=scope or None,
            worker_id=worker_id,
            password=password,
            display_name=name,
            rate_per_minute=rate,
        )
    made = {"id": account_id, "username": username.strip().lower(), "role": role.value}
    made |= {"role_zh": role.zh, "secret": secret}
    emit(made, as_json, _show_secret)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every account with its role, scope and state (never a hash)."""
    with transaction(load_settings()) as session:
        rows = [accounts.view(a) for a in stored.listing(session)]

    def render(data: dict[str, Any]) -> None:
        for row in data["accounts"]:
            state = "disabled" if row["disabled"] else "locked" if row["locked"] else "active"
            console.print(
                f"{row['username']:<24} {row['role_zh']:<12} {state:<8} "
                f"{','.join(row['scope_codes'])}"
            )

    emit({"accounts": rows}, as_json, render)


@app.command("disable")
def disable(username: str, as_json: JsonOpt = False) -> None:
    """Disable an account: its access and refresh tokens stop working."""
    with transaction(load_settings()) as session:
        account = accounts.disable(session, username, now=datetime.now(UTC))
    emit({"username": account.username, "disabled": True}, as_json, lambda d: console.print(
        f"{d['username']} disabled; its tokens are revoked"
    ))  # fmt: skip


@app.command("enable")
def enable(username: str, as_json: JsonOpt = False) -> None:
    """Enable a disabled account again (it logs in afresh)."""
    with transaction(load_settings()) as session:
        account = accounts.enable(session, username, now=datetime.now(UTC))
    emit({"username": account.username, "disabled": False}, as_json, lambda d: console.print(
        f"{d['username']} enabled"
    ))  # fmt: skip


@app.command("reset")
def reset(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the new password from stdin")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A new password (or client key), unlocked, every earlier token revoked; printed once."""
    password = input().strip() if password_stdin else None
    with transaction(load_settings()) as session:
        account, secret = accounts.reset(
            session, username, now=datetime.now(UTC), password=password
        )
    role = Role(account.role)
    made = {"username": account.username, "role": role.value, "role_zh": role.zh}
    emit(made | {"secret": secret}, as_json, _show_secret)

"""`soc parse`: one ECS document per input line, in order, errors included (what analysts try devices with)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def run_parse(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "soc.cli", "parse", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=120)


def test_output_lines_stay_aligned_with_input_lines() -> None:
    lines = [
        b"<38>Feb 20 08:35:22 web01 sshd[5774]: Failed password for root from 89.160.20.156 port 29160 ssh2",
        b'{"broken": ',
        b"",
        "<134>Apr 17 11:27:02 localhost fwlog: 日志类型:WEB应用防护, 源IP:172.23.181.250, 目的IP:10.10.0.8, "
        "攻击类型:SQL注入, 系统动作:拒绝".encode(),
        "用户 admin 登录失败".encode("gbk"),
    ]
    out = run_parse(b"\n".join(lines) + b"\n", "--charset", "utf-8")
    assert out.returncode == 0, out.stderr
    docs = [orjson.loads(x) for x in out.stdout.splitlines()]
    assert len(docs) == len(lines)
    assert docs[0]["source"]["ip"] == "89.160.20.156" and docs[0]["event"]["outcome"] == "failure"
    assert docs[1]["error"]["type"] == "json_invalid" and docs[1]["event"]["original"] == '{"broken": '
    assert docs[2]["error"]["type"] == "empty"
    assert docs[3]["observer"]["vendor"] == "sangfor" and docs[3]["rule"]["name"] == "SQL注入"
    assert "登录失败" in docs[4]["event"]["original"]  # GBK read through the GB18030 fallback


def test_an_unknown_format_is_a_clear_error() -> None:
    out = run_parse(b"x\n", "--format", "no_such_device")
    assert out.returncode != 0
    assert b"unknown format" in out.stderr and b"--list-formats" in out.stderr


def test_list_formats_names_the_devices() -> None:
    out = run_parse(b"", "--list-formats")
    names = set(out.stdout.decode().split())
    assert {"rfc5424", "rfc3164", "json", "cef", "suricata_eve", "huawei_usg", "sangfor_waf"} <= names

"""Downloading Kafka and Elasticsearch from Maven Central through Maven, and moving them offline.

The downloads are cached under <stack home>/dist, outside the repository:
  dist/kafka-<version>/libs/*.jar     kafka_2.13 with its runtime dependencies and a log4j2 binding
  dist/elasticsearch-<version>.zip    the integ-test-zip distribution
`export_dist` copies that folder with a manifest of SHA-256 sums; `import_dist` installs such a
copy on a machine that cannot reach Maven Central (government networks often cannot).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from soc.config import StackSettings
from soc.stack.process import StackError

ES_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"

KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>soc.stack</groupId><artifactId>kafka-dist</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Kafka 4 logs through slf4j 1.7 and log4j2 but ships no binding: add one. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


def dist_dir(cfg: StackSettings) -> Path:
    return cfg.resolved_home() / "dist"


def kafka_libs(cfg: StackSettings) -> Path:
    return dist_dir(cfg) / f"kafka-{cfg.kafka_version}" / "libs"


def es_zip(cfg: StackSettings) -> Path:
    return dist_dir(cfg) / f"elasticsearch-{cfg.es_version}.zip"


def _mvn(args: list[str], cwd: Path, what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven is missing: install it (apt-get install maven) to download Kafka and Elasticsearch, "
            "or install the artifacts from a folder with `soc stack import DIR`"
        )
    proc = subprocess.run([mvn, "-B", "-q", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise StackError(
            f"download refused or failed: Maven could not fetch {what} (exit {proc.returncode}). "
            f"Check network access to Maven Central or use `soc stack import DIR`.\n{tail}"
        )


def ensure_kafka(cfg: StackSettings) -> Path:
    """Kafka's jars, downloaded once; returns the libs folder."""
    libs = kafka_libs(cfg)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    with tempfile.TemporaryDirectory(prefix="soc-kafka-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(KAFKA_POM.format(kafka=cfg.kafka_version, log4j=cfg.log4j_version))
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        _mvn(
            ["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}"],
            Path(tmp),
            f"org.apache.kafka:kafka_2.13:{cfg.kafka_version}",
        )
    if not any(staging.glob(f"kafka_2.13-{cfg.kafka_version}.jar")):
        raise StackError(f"Maven finished but kafka_2.13-{cfg.kafka_version}.jar is not in {staging}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(cfg.kafka_version)
    return libs


def ensure_elasticsearch(cfg: StackSettings) -> Path:
    """The Elasticsearch zip, downloaded once; returns its path."""
    target = es_zip(cfg)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="soc-es-", dir=target.parent) as tmp:
        _mvn(
            ["dependency:copy", f"-Dartifact={ES_ARTIFACT.format(version=cfg.es_version)}", f"-DoutputDirectory={tmp}"],
            Path(tmp),
            ES_ARTIFACT.format(version=cfg.es_version),
        )
        got = list(Path(tmp).glob("*.zip"))
        if not got:
            raise StackError(f"Maven finished but no Elasticsearch zip arrived in {tmp}")
        got[0].rename(target)
    return target


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_dist(cfg: StackSettings, folder: Path) -> Path:
    """Download if needed, then copy the artifacts and a manifest into folder."""
    libs = ensure_kafka(cfg)
    zip_path = ensure_elasticsearch(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    out_libs = folder / libs.parent.name / "libs"
    shutil.copytree(libs, out_libs, dirs_exist_ok=True)
    shutil.copy2(zip_path, folder / zip_path.name)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "kafka_version": cfg.kafka_version,
        "es_version": cfg.es_version,
        "files": {str(p.relative_to(folder)): _sha256(p) for p in files},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def import_dist(cfg: StackSettings, folder: Path) -> None:
    """Verify an exported folder against its manifest and install it as the download cache."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise StackError(f"{folder} has no manifest.json: make it with `soc stack export DIR`")
    manifest = json.loads(manifest_path.read_text())
    for rel, digest in manifest["files"].items():
        path = folder / rel
        if not path.exists():
            raise StackError(f"{folder}: {rel} is listed in the manifest but missing")
        if _sha256(path) != digest:
            raise StackError(f"{folder}: {rel} does not match its SHA-256 in the manifest (corrupt copy)")
    if manifest["kafka_version"] != cfg.kafka_version or manifest["es_version"] != cfg.es_version:
        raise StackError(
            f"{folder} holds Kafka {manifest['kafka_version']} / Elasticsearch {manifest['es_version']}, "
            f"configured are {cfg.kafka_version} / {cfg.es_version} (set stack.kafka_version / stack.es_version)"
        )
    dist = dist_dir(cfg)
    dist.mkdir(parents=True, exist_ok=True)
    libs_src = folder / f"kafka-{cfg.kafka_version}" / "libs"
    shutil.copytree(libs_src, kafka_libs(cfg), dirs_exist_ok=True)
    (kafka_libs(cfg) / ".complete").write_text(cfg.kafka_version)
    shutil.copy2(folder / es_zip(cfg).name, es_zip(cfg))

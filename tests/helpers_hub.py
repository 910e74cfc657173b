"""A local Hugging Face Hub for tests: uploads become snapshots in the HF cache layout, so with
HF_HUB_OFFLINE=1 ``snapshot_download``, ``from_pretrained`` and peft resolve the ids from it."""

import fnmatch
import hashlib
import shutil
from pathlib import Path


class LocalHub:
    """Stands in for ``HfApi``: each upload becomes a snapshot in ``cache`` (models--user--name/...)."""

    def __init__(self, cache: Path):
        self.cache, self.created, self.commits = cache, [], 0

    def create_repo(self, repo_id, repo_type="model", private=False, exist_ok=False, **_):
        self.created.append((repo_id, repo_type))

    def upload_folder(self, folder_path, repo_id, repo_type="model", ignore_patterns=None, **_):
        assert (repo_id, repo_type) in self.created, "upload before create_repo"
        self.commits += 1
        sha = hashlib.sha1(f"{repo_id}:{self.commits}".encode()).hexdigest()
        root = self.cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
        snap = root / "snapshots" / sha
        src = Path(folder_path)
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            rel = f.relative_to(src).as_posix()
            if any(fnmatch.fnmatch(rel, pat) for pat in ignore_patterns or []):
                continue
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, snap / rel)
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / "main").write_text(sha)
        return f"https://huggingface.co/{repo_id}/commit/{sha}"

    def files(self, repo_id: str, repo_type: str = "model") -> Path:
        root = self.cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
        return root / "snapshots" / (root / "refs" / "main").read_text()

"""Upload a training output folder to the Hugging Face Hub.

The token comes from ``HF_TOKEN`` or ``huggingface-cli login`` through huggingface_hub itself;
this module never reads, logs or writes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from huggingface_hub import HfApi

log = logging.getLogger(__name__)
# resumable state and tracker logs are large and only useful on the training machine
IGNORE = ["checkpoints/*", "checkpoints/**", "logs/*", "logs/**"]


def push_to_hub(folder: str | Path, repo_id: str, private: bool = False, api: HfApi | None = None) -> str:
    """Create ``repo_id`` if needed and upload ``folder``; returns the commit URL."""
    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise FileNotFoundError(f"{folder}: no README.md model card; is this a training output folder?")
    api = api or HfApi()
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message="Upload careerpath model",
        ignore_patterns=IGNORE,
    )
    log.info("pushed %s to https://huggingface.co/%s", folder, repo_id)
    return str(getattr(info, "commit_url", info))

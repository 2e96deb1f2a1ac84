"""Publish a model folder to the Hugging Face Hub.

`push_folder` creates the repository if needed (HfApi.create_repo), brings the card up to date for it
(`destila.card.publish_card`: usage naming the repository; an exported folder's target, precision and
`onnx` / `openvino` / `int8` tags) and uploads the folder (HfApi.upload_folder) without the files that only serve
a run in progress: checkpoints, the teacher cache, the best-so-far copy, the resume state, hidden and partial
files. Every kind of model folder is published: trained (safetensors), ONNX and OpenVINO exports.

The token comes from the `token` argument, else from where huggingface_hub looks (HF_TOKEN, then the store that
`hf auth login` writes). It is never printed, logged or written: huggingface_hub's error messages are passed on
with any occurrence of it masked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from destila import files
from destila.errors import ConfigError, DestilaError, ModelError

# fnmatch patterns, relative to the folder; huggingface_hub adds its own (.git, .cache/huggingface).
RUN_ONLY_PATTERNS = [
    f"{files.CHECKPOINTS}/*",
    f"{files.TEACHER_CACHE}/*",
    f"{files.BEST}/*",
    files.RUN_STATE,
    ".*",  # hidden files and folders: half-written exports, editor and tool state
    "*.part",
    "*.tmp",
]


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload a model folder to the Hub model repository `repo_id` (created if missing); returns its URL.

    `revision` is a branch, created from the default branch if missing. The folder's README.md is rewritten for
    the repository before the upload.
    """
    folder = Path(folder)
    _check_folder(folder)
    _check_repo_id(repo_id)
    hf = _import_hub()
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    token = token or hf.get_token()
    if not token:
        raise ConfigError("no Hugging Face token: set HF_TOKEN, run `hf auth login`, or pass --token")
    api = hf.HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        _write_publish_card(folder, repo_id)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message or f"Upload {folder.name} with destila",
            ignore_patterns=list(RUN_ONLY_PATTERNS),
        )
    except (HfHubHTTPError, httpx.HTTPError, OSError, ValueError) as exc:
        message = str(exc).replace(token, "***")
        raise DestilaError(f"push to {repo_id}: {message}") from None
    return f"{url}/tree/{revision}" if revision else str(url)


def files_to_push(folder: str | os.PathLike) -> list[str]:
    """The paths (relative, POSIX) `push_folder` uploads from `folder`, sorted."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    folder = Path(folder)
    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return list(filter_repo_objects(paths, ignore_patterns=RUN_ONLY_PATTERNS + list(DEFAULT_IGNORE_PATTERNS)))


MODEL_FILES = (files.WEIGHTS, files.ONNX, files.OPENVINO)  # a trained folder, an ONNX or an OpenVINO export


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    if not (folder / files.HF_CONFIG).is_file() or not any((folder / name).is_file() for name in MODEL_FILES):
        raise ModelError(
            f"{folder}: not a model folder (needs {files.HF_CONFIG} and one of {', '.join(MODEL_FILES)})"
        )
    if (folder / files.OPENVINO).is_file() and not (folder / files.OPENVINO_WEIGHTS).is_file():
        raise ModelError(f"{folder}: {files.OPENVINO} without its weights {files.OPENVINO_WEIGHTS}")


def _check_repo_id(repo_id: str) -> None:
    owner, sep, name = repo_id.partition("/")
    if not (sep and owner and name) or "/" in name:
        raise ConfigError(f"repository {repo_id!r}: expected OWNER/NAME")


def _write_publish_card(folder: Path, repo_id: str) -> None:
    from destila.card import publish_card

    card = folder / files.MODEL_CARD
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {folder.name}\n\nSpanish extractive QA model.\n"
    info_path = folder / files.EXPORT_INFO
    export = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else None
    if export is None and not (folder / files.WEIGHTS).is_file():  # a graph without its record: still an export
        export = {"target": "openvino" if (folder / files.OPENVINO).is_file() else "onnx"}
    card.write_text(publish_card(text, repo_id, export=export), encoding="utf-8")


def _import_hub():
    try:
        import huggingface_hub
    except ImportError:
        raise DestilaError("publishing needs huggingface_hub: pip install 'destila[hub]'") from None
    return huggingface_hub

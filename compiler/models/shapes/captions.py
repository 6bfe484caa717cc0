"""The caption grammar of the shapes model: scenes, their captions, and the held-out split.

A `Scene` is the structured meaning of one caption. Attributes the caption leaves out are `None`:
the renderer draws their default (medium size, center, white background) and the checker does not
test them. `caption` and `parse` are inverses, so the checker can judge any prompt of the grammar.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (250, 135, 10),
    "yellow": (245, 215, 25),
    "green": (30, 160, 50),
    "blue": (30, 70, 225),
    "purple": (135, 50, 190),
    "pink": (250, 125, 190),
    "brown": (125, 75, 30),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": COLOURS["white"],
    "black": COLOURS["black"],
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "star", "ring", "cross")
SIZES = ("small", "large")  # said sizes; an unsaid size means medium
POSITIONS = ("left", "right", "top", "bottom", "center")
PAIRS = (("left", "right"), ("right", "left"), ("top", "bottom"), ("bottom", "top"))
DEFAULT_BACKGROUND = "white"

# Colour-shape pairs that never occur in training captions: one per colour, every shape at least
# once, so the benchmark can measure whether colour and shape are learnt as separate concepts.
HELD_OUT: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "star"),
        ("orange", "ring"),
        ("yellow", "square"),
        ("green", "triangle"),
        ("blue", "cross"),
        ("purple", "circle"),
        ("pink", "cross"),
        ("brown", "square"),
        ("white", "triangle"),
        ("black", "ring"),
    }
)

Split = Literal["train", "held_out"]


@dataclass(frozen=True)
class Obj:
    """One object; `size` and `position` are None where the caption does not say them."""

    colour: str
    shape: str
    size: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class Scene:
    """What a caption means: one or two objects on a background (None: not said)."""

    objects: tuple[Obj, ...]
    background: str | None = None

    @property
    def held_out(self) -> bool:
        return any((o.colour, o.shape) in HELD_OUT for o in self.objects)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _position_phrase(position: str) -> str:
    preposition = {"left": "on the", "right": "on the", "center": "in the"}.get(position, "at the")
    return f"{preposition} {position}"


def _object_phrase(obj: Obj) -> str:
    words = [w for w in (obj.size, obj.colour, obj.shape) if w]
    text = f"{_article(words[0])} {' '.join(words)}"
    return f"{text} {_position_phrase(obj.position)}" if obj.position else text


def caption(scene: Scene) -> str:
    text = " and ".join(_object_phrase(o) for o in scene.objects)
    if scene.background:
        text += f", on {_article(scene.background)} {scene.background} background"
    return text


_OBJECT = re.compile(
    rf"an? (?:(?P<size>{'|'.join(SIZES)}) )?(?P<colour>{'|'.join(COLOURS)}) "
    rf"(?P<shape>{'|'.join(SHAPES)})(?: (?:on|in|at) the (?P<position>{'|'.join(POSITIONS)}))?"
)
_BACKGROUND = re.compile(rf", on an? (?P<bg>{'|'.join(BACKGROUNDS)}) background$")


def parse(text: str) -> Scene:
    """The scene a caption of the grammar means; ValueError for text outside the grammar."""
    text = " ".join(text.lower().split())
    background = None
    if match := _BACKGROUND.search(text):
        background = match["bg"]
        text = text[: match.start()]
    objects = []
    for part in text.split(" and "):
        match = _OBJECT.fullmatch(part)
        if not match:
            raise ValueError(f"not a caption of the shapes grammar: {part!r}")
        objects.append(Obj(match["colour"], match["shape"], match["size"], match["position"]))
    if not 1 <= len(objects) <= 2:
        raise ValueError(f"a caption names one or two objects, not {len(objects)}")
    return Scene(tuple(objects), background)


def _sample_object(rng: random.Random, background: str, pair: tuple[str, str] | None) -> Obj:
    colour, shape = pair or (rng.choice(list(COLOURS)), rng.choice(SHAPES))
    while colour == background or (pair is None and (colour, shape) in HELD_OUT):
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
    return Obj(colour, shape, rng.choice((*SIZES, None)))


def sample_scene(rng: random.Random, split: Split = "train") -> Scene:
    """A random scene: train scenes hold no held-out pair, held-out scenes hold at least one."""
    background = rng.choice(list(BACKGROUNDS))
    count = rng.choice((1, 2))
    pairs: list[tuple[str, str] | None] = [None] * count
    if split == "held_out":
        candidates = sorted(p for p in HELD_OUT if p[0] != background)
        pairs[rng.randrange(count)] = rng.choice(candidates)
    objects = [_sample_object(rng, background, p) for p in pairs]
    if count == 1:
        position = rng.choice((*POSITIONS, None))
        objects = [Obj(objects[0].colour, objects[0].shape, objects[0].size, position)]
    else:
        places = rng.choice(PAIRS)
        objects = [Obj(o.colour, o.shape, o.size, p) for o, p in zip(objects, places, strict=True)]
    said_background = (
        None if background == DEFAULT_BACKGROUND and rng.random() < 0.3 else background
    )
    return Scene(tuple(objects), said_background)


def scene_rng(seed: int, index: int, stream: str) -> random.Random:
    """The generator of item `index` of a stream: any item is reproducible on its own."""
    return random.Random(f"shapes/{stream}/{seed}/{index}")


def scenes(seed: int, count: int, split: Split = "train") -> list[Scene]:
    """`count` scenes, deterministic from `seed`; train and held-out use separate streams."""
    return [sample_scene(scene_rng(seed, i, split), split) for i in range(count)]

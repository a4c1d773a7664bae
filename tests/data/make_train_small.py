"""Writes tests/data/train_small.jsonl: 300 short labeled texts, four topics, with a split.

Each text is a subject phrase and an object phrase of its topic (so the classes are learnable
from the words), 75 per topic, split 80/10/10 into train, validation and test per topic.
Deterministic (seeded): run it again and the file is the same.
"""

import json
import random
from pathlib import Path

TOPICS = {
    "sports": (
        [
            "The striker scored",
            "Our goalkeeper saved",
            "The team won",
            "The coach praised",
            "The runner sprinted",
            "The referee stopped",
            "The tennis player served",
            "The cyclist climbed",
            "The captain lifted",
            "The swimmer broke",
        ],
        [
            "in the final minute of the match",
            "a penalty during the derby",
            "the league title on Sunday",
            "the squad after a tough season",
            "to the finish line of the marathon",
            "the game for a foul",
            "an ace to win the set",
            "the mountain stage of the race",
            "the trophy in front of the fans",
            "the national record in the pool",
        ],
    ),
    "cooking": (
        [
            "Simmer the sauce",
            "Knead the dough",
            "Roast the vegetables",
            "Whisk the eggs",
            "Season the soup",
            "Bake the bread",
            "Chop the onions",
            "Marinate the chicken",
            "Stir the risotto",
            "Grill the fish",
        ],
        [
            "for twenty minutes on low heat",
            "until it is smooth and elastic",
            "with olive oil and garlic",
            "with a pinch of salt and sugar",
            "before serving it hot",
            "in a preheated oven",
            "finely before frying them",
            "overnight in lemon and herbs",
            "with butter and parmesan",
            "with fresh basil and pepper",
        ],
    ),
    "tech": (
        [
            "The new laptop ships",
            "Developers patched",
            "The database server crashed",
            "Our app update adds",
            "The chip maker announced",
            "Engineers deployed",
            "The compiler now supports",
            "The phone's battery handles",
            "The router firmware fixes",
            "The cloud provider launched",
        ],
        [
            "with a faster processor",
            "a security bug in the kernel",
            "after the disk filled up",
            "dark mode and offline sync",
            "a smaller transistor process",
            "the service to the cluster",
            "generic types and modules",
            "two days of video calls",
            "a memory leak in the driver",
            "a managed vector database",
        ],
    ),
    "finance": (
        [
            "The central bank raised",
            "Investors sold",
            "The company reported",
            "Analysts expect",
            "The stock market fell",
            "The fund manager bought",
            "Bond yields climbed",
            "The startup raised",
            "The bank cut",
            "Shareholders approved",
        ],
        [
            "interest rates by a quarter point",
            "their shares after the earnings call",
            "record quarterly revenue",
            "inflation to slow next year",
            "on fears of a recession",
            "government bonds for the pension fund",
            "to their highest level in a decade",
            "a new round of venture capital",
            "its mortgage rates for new customers",
            "the dividend at the annual meeting",
        ],
    ),
}
PER_TOPIC = 75


def main() -> None:
    r = random.Random(11)
    rows = []
    for label, (subjects, objects) in TOPICS.items():
        texts = sorted(f"{s} {o}." for s in subjects for o in objects)
        picked = r.sample(texts, PER_TOPIC)
        for i, text in enumerate(picked):
            split = "train" if i < 60 else "validation" if i < 68 else "test"
            rows.append({"text": text, "label": label, "split": split})
    r.shuffle(rows)
    out = Path(__file__).with_name("train_small.jsonl")
    with out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

"""Writes train_tiny.jsonl: three topics (sports, cooking, tech), templated, fixed seed."""

import json
import random

r = random.Random(7)
topics = {
    "sports": (
        [
            "The striker scored",
            "Our goalkeeper saved",
            "The team won",
            "The coach praised",
            "Fans cheered as the runner finished",
            "The referee stopped",
            "The tennis player served",
            "The cyclist climbed",
        ],
        [
            "in the final minute of the match",
            "a penalty during the derby",
            "the league title on Sunday",
            "after a tough season",
            "the marathon in record time",
            "the game for a foul",
            "an ace to win the set",
            "the mountain stage of the race",
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
            "The phone's battery lasts",
        ],
        [
            "with a faster processor",
            "a security bug in the kernel",
            "after the disk filled up",
            "dark mode and offline sync",
            "a smaller transistor process",
            "the service to the cloud",
            "generic types and modules",
            "two days on one charge",
        ],
    ),
}
rows = []
counts = {"sports": 50, "cooking": 40, "tech": 40}
for label, (subs, objs) in topics.items():
    seen = set()
    while len(seen) < counts[label]:
        seen.add(f"{r.choice(subs)} {r.choice(objs)}.")
    rows += [{"text": t, "label": label} for t in sorted(seen)]
r.shuffle(rows)
with open("tests/data/train_tiny.jsonl", "w") as f:
    for row in rows:
        f.write(json.dumps(row) + "\n")

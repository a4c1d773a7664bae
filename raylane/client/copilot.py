"""The copilot's former import path, kept so ``from raylane.client.copilot import ChatEvent``
goes on working (the CLI uses it); the module is :mod:`raylane.client.resources.copilot`."""

from raylane.client.resources.copilot import (
    AsyncCopilot,
    ChatEvent,
    ChatOptions,
    ChatSettings,
    Copilot,
    MessageInput,
)

__all__ = ["AsyncCopilot", "ChatEvent", "ChatOptions", "ChatSettings", "Copilot", "MessageInput"]

# ruff: noqa: RUF001 (patterns match real fullwidth punctuation, dashes and quotation marks)
"""Prompt-injection and jailbreak scoring from weighted signals.

Each signal is a pattern with a weight in (0, 1); the score combines the distinct signals
that fire as a noisy-OR, ``1 - prod(1 - w)``: one strong signal is enough, several weak ones
add up, and the result stays in [0, 1]. The text is also scanned in normalized forms
(leetspeak, spaced-out letters, underscores) and, for short encoded blobs (base64, hex,
rot13), in decoded form, because attackers obfuscate exactly the phrases this looks for.

Patterns catch the common phrasings, not paraphrases or most other languages, so a learned
head over the MiniLM embedding (``semantic``) adds one more signal, ``semantic``, weighted by
its probability when that reaches ``SEMANTIC_FLOOR`` (calibrated on the development set, which
the head is not trained on: the lowest floor at which patterns + head flag at most 5% of its
benign texts). Neither catches a determined adversary; treat the score as one signal.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

from raylane.core.guardrails import semantic

DEFAULT_THRESHOLD = 0.5
SEMANTIC_FLOOR = 0.9


@dataclass(frozen=True, slots=True)
class Signal:
    """A named pattern and how strongly a match suggests an injection."""

    name: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SignalMatch:
    """A signal that fired, with the (normalized) text that triggered it."""

    name: str
    weight: float
    evidence: str


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """Score in [0, 1], the signals behind it, and the verdict at ``threshold``."""

    score: float
    signals: tuple[SignalMatch, ...]
    threshold: float

    @property
    def is_injection(self) -> bool:
        return self.score >= self.threshold


def _s(name: str, weight: float, rx: str) -> Signal:
    return Signal(name, weight, re.compile(rx, re.IGNORECASE | re.MULTILINE))


_NOT = r"(?<!n't )(?<!not )(?<!never )"  # "don't forget the previous instructions" is benign
_VERB = r"(?:ignores?|disregards?|forget|override|bypass|skip|abandon|discard)"
_WHICH = r"(?:previous|prior|above|earlier|preceding|initial|original|system|developer|all|any"
_WHICH += r"|your|my|other|those|these|existing|current)"
_RULES = r"(?:instructions?|prompts?|rules|directives?|directions|guidelines|constraints"
_RULES += r"|polic(?:y|ies)|programming|orders|(?:system|developer) messages?)"
_FREE = r"(?:restrictions|limitations|limits|filters?|rules|guidelines|censorship|guardrails"
_FREE += r"|content polic(?:y|ies)|ethical|moral|safety)"

# --------------------------------------------------------------------------- other languages
# Per language: verbs that dismiss, words that make the object the model's own ("your",
# "all", "previous"), and the objects (instructions, rules, system prompt). A dismissal needs
# verb + (owner ... object | object ... "previous"), so "ignora las instrucciones del manual"
# (the manual's instructions) and "ignoriere die Groß- und Kleinschreibung" stay benign.
_LANGS: dict[str, tuple[str, str, str, str]] = {
    "de": (
        r"ignorier\w*|vergiss|vergessen sie|missacht\w*|übergeh\w*|verwirf|beachte\w*[^.\n]{0,30}"
        r"\bnicht\b|halte? dich nicht mehr an|befolge? nicht mehr",
        r"alle\w*|deine\w*|ihre\w*|sämtliche\w*|jegliche\w*|vorherige\w*|bisherige\w*|frühere\w*"
        r"|ursprüngliche\w*|alte\w*",
        r"anweisung\w*|vorgaben|regeln|richtlinien|instruktion\w*|befehle|systemprompt\w*"
        r"|system-prompt\w*|einschränkungen|beschränkungen|sicherheitsregeln|filter|alles",
        r"vorherige\w*|bisherige\w*|des systems|des betreibers|des entwicklers",
    ),
    "fr": (
        r"ignore[zr]?|oublie[zr]?|ne (?:tiens?|tenez) plus compte d\w*|ne respecte[zr]? plus"
        r"|fais abstraction d\w*|néglige[zr]?|passe[zr]? outre",
        r"toutes?|tous|tes|vos|ton|votre|les précédent\w*|l'ensemble d\w*",
        r"consignes?|instructions?|règles?|directives?|prompt système|restrictions?|filtres?"
        r"|limites?|garde-fous",
        r"précédent\w*|initia\w*|d'origine|antérieur\w*|du système|de l'opérateur",
    ),
    "es": (
        r"ignor[ae]r?|olvid[ae]r?|no hagas caso (?:a|de)|haz caso omiso (?:a|de)|omite|descarta"
        r"|no sigas|deja de (?:seguir|cumplir)|desobedece",
        r"todas?|todos|tus|tu|sus|las anteriores|cada una de",
        r"instrucciones|reglas|directrices|normas|indicaciones|órdenes|restricciones|prompt"
        r"|filtros|salvaguardas|todo lo que te",
        r"anteriores|previas|originales|iniciales|del sistema|del operador|del desarrollador",
    ),
    "it": (
        r"ignora(?:re)?|dimentica(?:re)?|non seguire(?: più)?|trascura|non rispettare(?: più)?"
        r"|smetti di (?:seguire|rispettare)",
        r"tutte|tutti|le tue|i tuoi|la tua|il tuo|ogni",
        r"istruzioni|regole|linee guida|direttive|indicazioni|restrizioni|prompt|filtri"
        r"|protezioni|limiti",
        r"precedenti|originali|iniziali|di sistema|del sistema|dell'operatore",
    ),
    "pt": (
        r"ignor[ae]|esque[çc]a|desconsider[ae]|não sig[ae]|deixe de seguir",
        r"todas?|todos|suas?|seus?|as anteriores",
        r"instruções|regras|diretrizes|ordens|restrições|prompt|filtros",
        r"anteriores|originais|iniciais|do sistema|do operador",
    ),
    "nl": (
        r"negeer|vergeet|volg niet langer",
        r"alle|je|jouw|uw|de vorige|eerdere",
        r"instructies|regels|richtlijnen|opdrachten|systeemprompt|beperkingen",
        r"vorige|eerdere|oorspronkelijke|van het systeem",
    ),
    "pl": (
        r"zignoruj|ignoruj|zapomnij|nie przestrzegaj",
        r"wszystkie|swoje|twoje|poprzednie",
        r"instrukcje|polecenia|zasady|reguły|prompt",
        r"poprzednie|wcześniejsze|systemowe?",
    ),
    "ru": (
        r"игнорируй|проигнорируй|забудь|не следуй|не соблюдай",
        r"все|свои|твои|предыдущие",
        r"инструкции|указания|правила|промпт|ограничения",
        r"предыдущие|системн\w*",
    ),
}
_W = r"[^.!?\n]{0,40}?"


def _dismiss(verbs: str, owners: str, objects: str, after: str) -> str:
    return (
        rf"(?<!\w)(?:{verbs})(?!\w){_W}(?<!\w)(?:(?:{owners})(?!\w){_W}(?<!\w)(?:{objects})(?!\w)"
        rf"|(?:{objects})(?!\w)[^.!?\n]{{0,25}}?(?<!\w)(?:{after})(?!\w))"
    )


_MULTI = "|".join(_dismiss(*v) for v in _LANGS.values())
# Chinese and Japanese: no spaces, no cases: "ignore" + "instruction/rule/prompt" nearby.
_CJK = (
    r"(?:忽略|无视|無視|忘记|忘れ)[^。！？\n]{0,20}(?:指令|指示|规则|ルール|命令|提示|プロンプト)"
)
_CJK += r"|(?:指令|指示|规则|ルール|命令|プロンプト)[^。！？\n]{0,20}(?:忽略|无视|無視|忘れ)"

SIGNALS: tuple[Signal, ...] = (
    _s(
        "ignore_instructions",
        0.85,
        _NOT + rf"\b{_VERB}\b[^.!?\n]{{0,40}}?\b(?:{_WHICH}\b[^.!?\n]{{0,20}}?\b{_RULES}"
        r"|(?:system|developer) (?:message|prompt))\b"
        r"|\b(?:forget|disregard|ignore)\s+(?:everything|anything|all(?: of)? that)\s+(?:you"
        r" (?:were|have been) (?:told|given|taught)|(?:said |written )?(?:above|before|earlier))",
    ),
    _s("ignore_instructions_multilingual", 0.8, _MULTI + "|" + _CJK),
    _s(
        "dismiss_paraphrase",
        0.7,
        _NOT + r"\b(?:set aside|put aside|pay no attention to|throw away|drop|stop (?:following"
        r"|obeying)|no longer (?:follow|obey)|never mind|discard"
        r"|scrap)\b[^.!?\n]{0,30}?\b(?:your|the"
        r"|all|any|every|earlier|previous|prior|original|those)\b[^.!?\n]{0,25}?\b(?:instructions?"
        r"|guidance|guidelines|rules|directives|persona|configuration|setup|system prompt"
        r"|programming|constraints|policy|policies|orders)\b"
        r"|\bas (?:if|though) you (?:never|didn't|did not|had not|hadn't) (?:receive|get|got|have"
        r"|had|been given)\w*\b[^.!?\n]{0,20}\b(?:instructions|guidance|guidelines|rules|prompt)\b",
    ),
    _s(
        "rules_void_paraphrase",
        0.7,
        r"\b(?:instructions|guidance|guidelines|rules|directives|task"
        r"|system (?:text|prompt|message)"
        r"|configuration|orders|(?:operator|developers?|they|anyone) (?:told"
        r"|gave) you)\b[^.!?\n]{0,50}?"
        r"\b(?:(?:are|is|were|was|now) (?:now )?(?:outdated|void|cancel+ed|obsolete|expired|revoked"
        r"|superseded|null)|no longer (?:apply|applies|valid|matters?|counts?)|(?:doesn't|don't"
        r"|does not|do not) (?:apply|matter|count)(?: anymore| any more)?"
        r"|(?:was|were) (?:just |only"
        r" )?a test)\b"
        r"|\btreat\b[^.!?\n]{0,40}\b(?:guidance|instructions|rules|guidelines)\b[^.!?\n]{0,10}\bas"
        r" (?:void|expired|cancel+ed|obsolete|invalid)\b"
        r"|\bmy (?:instructions|rules|orders) (?:take|have) (?:precedence|priority)\b"
        r"|\bgelten\b[^.\n]{0,30}\b(?:regeln|anweisungen|vorgaben)\b[^.\n]{0,10}\bnicht mehr\b"
        r"|\b(?:regeln|anweisungen|vorgaben)\b[^.\n]{0,30}\b(?:sind aufgehoben|ungültig|außer kraft"
        r"|gelten nicht mehr)"
        r"|\b(?:règles|consignes|instructions)\b[^.\n]{0,30}\b(?:caduques|annulées|obsolètes"
        r"|ne s'appliquent plus|ne comptent plus)"
        r"|\b(?:reglas|normas|instrucciones|directrices)\b[^.\n]{0,30}\b(?:anuladas|sin efecto"
        r"|ya no (?:aplican|valen|cuentan)|obsoletas)"
        r"|\b(?:regole|istruzioni|direttive)\b[^.\n]{0,30}\b(?:revocate|annullate|obsolete"
        r"|non valgono più|non contano più)",
    ),
    _s(
        "obey_only_me",
        0.55,
        r"\b(?:follow|obey|listen to) only (?:me|my|mine)\b|\bonly (?:follow|obey|listen to) (?:me"
        r"|my)\b|\byou (?:now )?work for me\b|\byou(?:'re| are) no longer (?:an? |the )?assistant"
        r"|\bn'obéis qu'à moi|\bobéis uniquement à moi|\bgehorch\w* nur (?:noch )?mir"
        r"|\bobedece solo a mí|\bobbedisci solo a me",
    ),
    _s(
        "new_persona",
        0.35,
        r"\bdu bist (?:jetzt|nun|ab sofort|ab jetzt) (?:ein|eine)\b"
        r"|\btu es (?:désormais|maintenant)"
        r" (?:un|une)\b|\bahora eres (?:un|una)\b|\b(?:da ora in poi |ora )sei (?:un|una|un')"
        r"|\bagora você é (?:um|uma)\b|\byou are now (?:an?|the|my)\b"
        r"|\bdrop (?:the|your) persona\b",
    ),
    _s(
        "no_restrictions_multilingual",
        0.55,
        r"\bohne (?:jeden |jegliche |irgendwelche )?(?:filter|einschränkungen|beschränkungen"
        r"|regeln|zensur|grenzen)\b|\bsans (?:aucune? )?(?:filtre|restriction|règle|censure"
        r"|limite)s?\b|\bsin (?:ningún |ninguna )?(?:filtro|restricci(?:ón|ones)|reglas|censura"
        r"|límites)\b|\bsenza (?:alcun |alcuna |alcun')?(?:filtro|filtri|restrizion[ei]|regole"
        r"|limiti|censura)\b|\bsem (?:nenhum |nenhuma )?(?:filtro|restrições|regras|censura)\b"
        r"|\bzonder (?:enige )?(?:filter|beperkingen|regels)\b"
        r"|\bsenza limiti\b|\bsin restricciones\b|\bsans aucune restriction\b",
    ),
    _s(
        "prompt_exfiltration_multilingual",
        0.6,
        r"\b(?:zeig|gib|nenne|verrat|enthüll|affiche|montre|révèle|donne|divulgue|muestra|revela"
        r"|dime|enséñame|mostra|rivela|dimmi|svela|mostre|revele|toon|geef|pokaż|покажи|выведи)\w*"
        r"\b[^.!?\n]{0,25}\b(?:system-?prompt\w*|prompt\w*(?: (?:système|systemowy|del sistema"
        r"|di sistema|do sistema))?|systeemprompt|системный промпт|(?:configuration|configuración"
        r"|configurazione|konfiguration|configuração) (?:cachée|oculta|nascosta|interne|secrète"
        r"|secreta)|(?:versteckte|interne|geheime)n? (?:konfiguration|anweisungen|daten))"
        r"|系统提示|システムプロンプト",
    ),
    _s(
        "credential_request_multilingual",
        0.45,
        r"\b(?:zeig|gib|nenne|verrat|affiche|révèle|donne|divulgue|muestra|revela|dime|filtra"
        r"|mostra|rivela|dimmi|mostre|revele|geef)\w*\b[^.!?\n]{0,30}\b(?:zugangsdaten|passwort"
        r"|identifiants|mot de passe|credenciales|contraseña|credenziali|password|senha"
        r"|wachtwoord)\b",
    ),
    _s(
        "hidden_material_exfiltration",
        0.6,
        r"\b(?:reveal|print|output|show|write out|dump|list|tell me|give me|share)\b[^.!?\n]{0,25}"
        r"\b(?:hidden|confidential|internal|secret|raw)\s+(?:\w+\s+)?(?:setup|configuration|config"
        r"|notes|instructions|data|context|contents|prompt|text)\b"
        r"|\b(?:contents|content) of your (?:context|memory|instructions|prompt)\b",
    ),
    _s(
        "address_the_model_multilingual",
        0.5,
        r"\b(?:hinweis|nachricht|anweisung(?:en)?|notiz)\s+(?:an|für)\s+(?:die|den|das)\s+(?:ki"
        r"|assistent\w*|modell|bot|llm)\b|\b(?:note|message|instructions?|consignes?)\s+(?:pour"
        r"|à)\s+(?:l'|le |la )(?:ia|assistant|modèle|agent)\b|\b(?:nota|mensaje|instrucciones?)"
        r"\s+para\s+(?:el |la )(?:ia|asistente|modelo|agente)\b|\b(?:nota|messaggio|istruzioni)\s+"
        r"per\s+(?:l'|il |la )(?:ia|assistente|modello|agente)\b",
    ),
    _s(
        "vocative",
        0.45,
        r"(?:^|[.!?>\[({\"]\s*|<!--\s*|:\s+)(?:assistant|assistent|asistente"
        r"|assistente|ai|ki|ia|llm"
        r"|chatbot)\s*(?:,|:|\s[-–])\s+\w",
    ),
    _s(
        "reading_model",
        0.5,
        r"\b(?:ai|llm|assistant|language model|model|agent|bot|chatbot)s?\b[^.\n]{0,20}\b(?:reading"
        r"|reads|processing|summari[sz]ing|screening|parsing"
        r"|rendering)\b[^.\n]{0,25}\b(?:this|these"
        r"|the)\b|\bwhen (?:you )?(?:read|render|process|summari[sz]e)\w* this (?:page|document"
        r"|email|file|message|text)\b|\bwhen rendering this\b",
    ),
    _s(
        "steer_task",
        0.45,
        r"\binstead of (?:summari[sz]ing|answering|translating|replying|responding)\b|\bau lieu de"
        r" (?:résumer|répondre|traduire)\b|\ben (?:lugar|vez) de (?:resumir|responder|traducir)\b"
        r"|\binvece di (?:riassumere|rispondere|tradurre)\b|\b(?:statt|anstatt) (?:zusammenzufassen"
        r"|zu antworten)\b|\bnicht zusammen, sondern\b|\bstop what you are doing\b"
        r"|\bstop summari[sz]ing\b|\byour (?:original|real|actual) task is\b",
    ),
    _s(
        "conceal_from_user",
        0.45,
        r"\b(?:do not|don't|never|and not) (?:mention|reveal|tell)\b[^.\n]{0,25}\b(?:to the user"
        r"|this note|this instruction|the user)\b|\bwithout telling the user\b"
        r"|\bhide (?:the |all )?"
        r"(?:negative|other|bad) (?:reviews|comments|results)\b",
    ),
    _s(
        "manipulate_user",
        0.4,
        r"\b(?:tell|inform|warn) the user (?:to|that)\b|\bask the user (?:for"
        r"|to)\b|\bdile al usuario"
        r"|\bchiedi all'utente\b|\bdemande à l'utilisateur\b"
        r"|\bfrag den nutzer\b|\bsay (?:that )?this"
        r" product\b|\brank this candidate\b|\brate this (?:candidate|product)\b",
    ),
    _s(
        "exfiltrate_action",
        0.4,
        r"\b(?:send|forward|email|post|upload|append|transfer|envoie|inoltra"
        r"|schick|envía|transfiere"
        r"|trasferisci|überweise)\w*\b[^.\n]{0,40}(?:\b(?:the user's|user's|all(?: the)?|entire"
        r"|whole|full|complete)\s+(?:\w+\s+)?(?:history|conversation|chat|data|emails|invoices"
        r"|messages|files|records|credentials)\b|\b(?:history|conversation|chat|historique"
        r"|conversazione|verlauf|historial|conversación|nutzerdaten|saldo|balance)\b[^.\n]{0,30}"
        r"(?:\bthis address|\bthe address (?:below|above|in the footer)|\bcette adresse|\bquesto"
        r" indirizzo|\besta dirección|\bdiese adresse|\bcuenta indicada)|\b(?:nutzerdaten"
        r"|données de l'utilisateur|datos del usuario|dati dell'utente|user's data)\b)",
    ),
    _s("remote_exec", 0.45, r"\b(?:curl|wget)\s[^|\n]{1,200}\|\s*(?:ba|z)?sh\b"),
    _s(
        "ignore_user",
        0.55,
        r"\b(?:ignore|disregard)\s+(?:the\s+)?user(?:'s)?\b(?!\s+(?:names?|ids?|agents?))"
        r"|\bignora(?:re)? (?:al usuario|l'utente|la domanda|la pregunta)\b"
        r"|\bignorier\w* (?:den nutzer|die frage)\b|\bignore[zr]? (?:l'utilisateur|la question)\b",
    ),
    _s(
        "rules_revoked",
        0.6,
        r"\b(?:previous|prior|earlier|above|old|all)\s+(?:\w+\s+)?(?:polic(?:y|ies)|rules"
        r"|instructions|directives)\s+(?:is|are|were|have been)\s+(?:now\s+)?(?:revoked|void"
        r"|cancel+ed|invalid|null|obsolete|lifted)",
    ),
    _s(
        "new_instructions",
        0.35,
        r"\b(?:new|updated|real|actual|true)\s+(?:instructions?|rules?|directives?"
        r"|system prompt|task|role|persona)\s*(?::|are\b|is\b)",
    ),
    _s(
        "from_now_on",
        0.3,
        r"\b(?:from now on|from this point (?:on|forward)|for the rest of this "
        r"(?:chat|conversation|session))\b",
    ),
    _s(
        "no_restrictions",
        0.6,
        rf"\b(?:no|without(?: any)?|free of|freed from|free from)\s+(?:\w+\s+){{0,3}}{_FREE}"
        r"|\b(?:not|no longer)\s+(?:be\s+)?(?:bound|restricted|limited)\s+by\b"
        r"|\bno longer (?:have|need) to (?:follow|obey)\b",
    ),
    _s(
        "disable_safety",
        0.55,
        r"\b(?:bypass|disable|turn off|switch off|ignore|remove|lift)\s+(?:\w+\s+){0,2}"
        r"(?:safety|content|moderation)?\s*(?:filters?|restrictions|guardrails|polic(?:y|ies)"
        r"|guidelines|safeguards)\b"
        r"|\brestrictions (?:are|have been) (?:lifted|removed|disabled|off)\b",
    ),
    _s(
        "do_not_follow",
        0.6,
        r"\b(?:do not|don't|never|stop)\s+(?:follow|obey)(?:ing)?\s+(?:your|the|any)\s+"
        r"(?:\w+\s+)?(?:rules|instructions|guidelines|polic(?:y|ies))\b",
    ),
    _s(
        "never_refuse",
        0.5,
        r"\b(?:never|do not|don't|must not|cannot|can't)\s+(?:refuse|decline|say no"
        r"|apologi[sz]e|add (?:a |any )?disclaimers?)\b",
    ),
    _s("no_disclaimers", 0.35, r"\bno (?:disclaimers|warnings|caveats)\b"),
    _s(
        "dan",
        0.7,
        r"\bdo anything now\b|\b(?:you are|you're|pretend to be|act as|be)\s+(?:now\s+)?DAN\b",
    ),
    _s("dan_name", 0.4, r"(?-i:\bDAN\b)"),
    _s(
        "jailbreak_mode",
        0.6,
        r"\bjailbr(?:oken|eak(?:ed)? mode)\b|\b(?:unrestricted|unfiltered|uncensored|amoral)\s+"
        r"(?:ai|assistant|model|chatbot|version|mode)\b",
    ),
    _s("special_mode", 0.45, r"\b(?:developer|maintenance|god|sudo|debug|admin) mode\b"),
    _s(
        "roleplay_unrestricted",
        0.55,
        r"\b(?:pretend|act|roleplay|role-play|behave|respond|you are)\b[^.\n]{0,60}\b"
        r"(?:evil|unrestricted|unfiltered|uncensored|no (?:rules|restrictions|filters|limits"
        r"|content policy|ethics))\b",
    ),
    _s("stay_in_character", 0.3, r"\bstay in character\b"),
    _s(
        "hypothetical_no_rules",
        0.55,
        r"\bif you (?:had|have|were without) no (?:rules|restrictions|filters|limits"
        r"|guidelines)\b",
    ),
    _s(
        "grandma_exploit",
        0.5,
        r"\b(?:grandma|grandmother)\b[^.]{0,40}\bused to\b[^.]{0,60}\b(?:keys?|passwords?"
        r"|serials?|napalm|recipes? for)\b",
    ),
    _s(
        "prompt_exfiltration",
        0.75,
        r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|share|spell|recite"
        r"|write out)\b[^.?!\n]{0,30}\byour\s+(?:\w+\s+){0,2}(?:system\s+)?(?:prompt|instructions"
        r"|rules|system message|directives)\b"
        r"|\b(?:prompt|instructions|rules)\s+(?:that\s+)?(?:you (?:were|have been) given"
        r"|(?:the\s+)?(?:developers?|creators?)\s+gave you|given to you)\b"
        r"|\bwhat is your (?:system )?prompt\b",
    ),
    _s(
        "repeat_above",
        0.5,
        r"\b(?:repeat|print|output|show|copy)\s+(?:all\s+|everything\s+|the\s+(?:text|words"
        r"|content|message)\s+)(?:above|before (?:this|my))\b",
    ),
    _s(
        "verbatim",
        0.4,
        r"\brepeat (?:them|it|those|these|that)\s+(?:exactly|verbatim|word for word)\b"
        r"|\b(?:verbatim|word for word)\b",
    ),
    _s(
        "what_were_you_told",
        0.45,
        r"\bwhat (?:were|have) you (?:been )?(?:told|instructed|given)\b",
    ),
    _s(
        "chat_template_tokens",
        0.75,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<</?SYS>>"
        r"|</?(?:system|user|assistant)>",
    ),
    _s(
        "role_header",
        0.6,
        r"^\s*(?:#{1,6}|-{3,}|\*\*|\[|<)\s*(?:system|assistant|developer)\s*(?:\]|>|:|\*\*)",
    ),
    _s("role_prefix", 0.3, r"^\s*(?:system|assistant|developer)\s*:"),
    _s(
        "fake_transcript",
        0.45,
        r"^\s*(?:human|user)\s*:[^\n]*\n\s*(?:assistant|ai)\s*:"
        r"|\b(?:system|assistant)\s*:[^\n]{0,80}\b(?:assistant|user|human)\s*:",
    ),
    _s(
        "decode_and_follow",
        0.65,
        r"\b(?:decode|decrypt|deobfuscate|translate|convert)\b[^.\n]{0,40}\b(?:and|then)\s+"
        r"(?:then\s+)?(?:follow|obey|execute|run|do what|comply|act on)\b",
    ),
    _s(
        "run_encoded",
        0.55,
        r"\b(?:execute|run|follow|obey)\b[^.\n]{0,30}\b(?:base64|hex|rot13|encoded|obfuscated"
        r"|encrypted)\b",
    ),
    _s(
        "encoded_reply",
        0.35,
        r"\b(?:answer|respond|reply|write)\s+(?:only\s+)?in\s+(?:base64|rot13|hex|binary|morse"
        r"|leetspeak)\b",
    ),
    _s(
        "evade_filter",
        0.55,
        r"\b(?:filter|moderation|detection|monitor)\b[^.]{0,30}\b(?:can't|cannot|won't"
        r"|doesn't|not)\s+(?:read|catch|detect|see|notice)\b",
    ),
    _s(
        "authority_claim",
        0.35,
        r"\b(?:i am|i'm|this is)\s+(?:the|your|an?)\s+(?:developer|administrator|admin|creator"
        r"|owner)\b|\bas (?:the|an?|your) (?:administrator|admin|developer)\b"
        r"|\bauthori[sz]ed (?:red[- ]team|penetration|security) test\b"
        r"|\b(?:admin|system) override\b|\boverride code\b|\bsudo mode\b",
    ),
    _s(
        "grant_access",
        0.4,
        r"\b(?:grant|give)\s+(?:me\s+|them\s+)?(?:full|admin|root)\s+access\b"
        r"|\bact as (?:root|admin|sudo|superuser)\b|\bskip (?:the )?verification\b",
    ),
    _s(
        "address_the_model",
        0.45,
        r"\b(?:note|message|instructions?|attention)\s+(?:to|for)\s+(?:the\s+|any\s+)?"
        r"(?:ai|assistant|llm|model|chatbot|agent|gpt)s?\b"
        r"|\bif you are an? (?:ai|llm|language model|assistant|bot|chatbot)\b"
        r"|\b(?:ai|llm)\s+(?:agents?|assistants?|models?)\s*[:,]|\battention,? (?:ai|model"
        r"|assistant|llm)\b",
    ),
    _s(
        "assistant_command",
        0.5,
        r"\bassistant\s*[,:]\s*(?:also\s+)?(?:stop|ignore|also|instead|disregard|forget|delete"
        r"|send|reveal)\b",
    ),
    _s(
        "override_user",
        0.5,
        r"\b(?:disregard|ignore)\s+(?:the\s+)?user'?s?\s+(?:request|question|message|input)\b",
    ),
    _s(
        "secret_exfiltration",
        0.4,
        r"\b(?:reveal|print|share|send|give|forward|list|output|reply)\b[^.\n]{0,40}\b"
        r"(?:api keys?|passwords?|credentials|secrets?|private keys?|access tokens?|the key)\b",
    ),
    _s(
        "data_exfiltration",
        0.4,
        r"\bforward\s+(?:the\s+|all\s+)?(?:conversation|chat|history|emails?|messages|data)\b",
    ),
    _s(
        "destructive_action",
        0.3,
        r"\b(?:delete|remove|wipe|erase)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:user'?s?\s+)?"
        r"(?:files|data|emails|records|repositories|database)\b",
    ),
    _s(
        "hidden_comment",
        0.4,
        r"(?:<!--|\[//\]: #\s*\(|display:\s*none[^>]{0,40}>)[^>]{0,200}\b(?:ai|ki|ia|llm"
        r"|assistant|assistent\w*|asistente|assistente|agent|ignor\w*|disregard|instructions"
        r"|istruzioni|instrucciones|anweisung\w*|consignes?)\b",
    ),
)

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff]|[\U000e0000-\U000e007f]")
_SPACED = re.compile(r"\b(?:\w ){3,}\w\b")
_B64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")
_MAX_DECODE = 4096  # decoding is for short smuggled phrases, not for whole documents


def _variants(text: str) -> list[str]:
    """The text plus normalized forms that undo common obfuscation."""
    base = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    squashed = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), base)
    squashed = re.sub(r"\s{2,}", " ", squashed.replace("_", " "))
    out = [base, squashed, squashed.translate(_LEET)]
    if re.search(r"(?i)\brot-?13\b", base):
        out.append(codecs.decode(base, "rot13"))
    return list(dict.fromkeys(out))


def _decoded_payloads(text: str) -> list[str]:
    """Printable text smuggled as base64 or hex blobs."""
    found: list[str] = []
    for m in _B64.finditer(text[:_MAX_DECODE]):
        blob = m.group(0)
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        found.append(raw.decode("utf-8", "replace"))
    for m in _HEX.finditer(text[:_MAX_DECODE]):
        found.append(bytes.fromhex(m.group(0)).decode("utf-8", "replace"))
    return [s for s in found if s.isprintable() and re.search(r"[A-Za-z]{3}", s)]


def _match_signals(texts: list[str], signals: tuple[Signal, ...]) -> dict[str, SignalMatch]:
    hits: dict[str, SignalMatch] = {}
    for signal in signals:
        for variant in texts:
            m = signal.pattern.search(variant)
            if m is not None:
                hits[signal.name] = SignalMatch(signal.name, signal.weight, m.group(0)[:120])
                break
    return hits


def _noisy_or(weights: list[float]) -> float:
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - min(max(w, 0.0), 1.0)
    return round(1.0 - remaining, 4)


# Writing about attacks quotes them: "a page saying 'ignore previous instructions'", "the
# paper 'Ignore Previous Prompt'". When the text talks about attacks, filters or translation,
# what stands inside quotation marks is mentioned, not said, and is left out of the match
# (not JSON string values: tool output carries injections in them).
_DISCUSSION = re.compile(
    r"(?i)\b(?:attacks?|attackers?|injections?|jailbreaks?|filters?|payloads?|examples?|phrases?"
    r"|papers?|red[- ]team|translat\w+|unit tests?|prompts like|classic|security|guardrails?"
    r"|blocks?|detects?|resisted|awareness|training|slides?|posters?|test cases?)\b"
)
_QUOTED = re.compile(
    r"(?<!\w)'[^'\n]{4,160}'(?!\w)|(?<![:\[,] )(?<![:\[,])\"[^\"\n]{4,160}\"(?!\s*[:,\]}])"
    r"|“[^”\n]{4,160}”|‘[^’\n]{4,160}’"
    r"|«[^»\n]{4,160}»|„[^“\n]{4,160}“"
)


def _mentioned_removed(text: str) -> str:
    if not _DISCUSSION.search(_QUOTED.sub(" ", text)):
        return text
    return _QUOTED.sub(" ", text)


def score_injection(
    text: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    signals: tuple[Signal, ...] = SIGNALS,
    learned: bool = False,
) -> InjectionResult:
    """Score how likely ``text`` is a prompt injection or jailbreak attempt.

    Args:
        text: user input, a retrieved chunk, or model output.
        threshold: score at or above which ``is_injection`` is true.
        signals: the weighted patterns; ``SIGNALS`` by default.
        learned: add the embedding head's signal (loads MiniLM once per process); the
            patterns alone when False or when the model is not installed.

    Returns:
        The noisy-OR score of the distinct signals found, and the signals themselves.
    """
    hits = _match_signals(_variants(_mentioned_removed(text)), signals)
    for payload in _decoded_payloads(text):
        inner = _match_signals(_variants(payload), signals)
        if inner:
            # A hidden instruction is at least as bad as a visible one: reuse its weight.
            score = _noisy_or([s.weight for s in inner.values()])
            hits.setdefault("encoded_payload", SignalMatch("encoded_payload", score, payload[:120]))
    if learned and (p := semantic.probability(text)) is not None and p >= SEMANTIC_FLOOR:
        hits["semantic"] = SignalMatch("semantic", round(p, 4), text[:120])
    score = _noisy_or([h.weight for h in hits.values()])
    return InjectionResult(score, tuple(hits.values()), threshold)

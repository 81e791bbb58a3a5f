"""The chat pages: a Gradio ChatInterface whose every answer is a rendered, cited Answer.

Two layouts of the same chat: the full page at "/" and the compact one a clinic's site frames.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr

from assistant import texts
from assistant.records.feedback import FeedbackStore
from assistant.render import render_markdown, render_notice
from assistant.texts import DISCLAIMER, DISCLAIMER_SHORT, EMPTY_QUESTION, EXAMPLE_QUESTIONS, SERVICE_ERROR
from assistant.types import Answer

from .answer_queue import ServerBusy
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

# ask(question, history) -> Answer, awaited: the app runs the CPU-bound search off the event loop.
Ask = Callable[[str, list[dict[str, str]]], Awaitable[Answer]]

TITLE = "Questions about cancer that has spread"
INTRO = (
    "Ask a question about cancer that has spread (metastases). Every answer is made of passages "
    "quoted word for word from the clinic's information documents, each with its source. "
    "Nothing is made up: when the documents do not answer, the assistant says so."
)
# Events waiting in Gradio's queue beyond this get a clean "queue is full" instead of piling up.
QUEUE_MAX_SIZE = 64
# Element ids: the widget's frame script finds the question box, the widget's CSS the answers.
QUESTION_ID = "question"
ANSWERS_ID = "answers"
# For the page's mount. Gradio's footer text is #bbbbc2 on white, 1.9:1, below WCAG AA's 4.5:1.
CHAT_CSS = ".gradio-container footer button.settings { color: var(--body-text-color); }"


def build_chat(
    ask: Ask, *, max_question_chars: int, limiter: RateLimiter, feedback: FeedbackStore,
    vote_limiter: RateLimiter, compact: bool = False
) -> gr.Blocks:
    """The page: title, intro, the disclaimer (visible before any question), then the chat.

    `max_question_chars` is the longest question the assistant searches; longer ones get its
    polite refusal. `limiter` counts questions per client address. Thumbs up/down on an answer
    go to `feedback` with the ids of the documents it showed, `vote_limiter` counting them.
    `compact`: the framed widget, without title and intro (the launcher's panel shows the
    title), the chat filling the frame.
    """

    # `shown` maps an answer's position in the chat to the ids of the documents it quoted. A
    # gr.State: held on the server for this page's session only, so a vote names the documents
    # without the answer's text, and nothing outlives the session.
    async def respond(message: Any, history: list[dict[str, Any]], shown: dict[int, list[str]] | None,
                      request: gr.Request) -> tuple[str, dict[int, list[str]]]:
        # Gradio adds the question, then this answer, after the history it hands us.
        shown = {**(shown or {}), len(history) + 1: []}
        # Gradio's own endpoints accept any JSON, so a message is not necessarily a string.
        if not isinstance(message, str) or not message.strip():
            return render_notice(EMPTY_QUESTION), shown
        wait = limiter.take(request.client.host if request.client else "")
        if wait:
            return render_notice(texts.TOO_MANY_QUESTIONS.format(seconds=wait)), shown
        try:
            answer = await ask(message, _plain_history(history))
        except ServerBusy:
            return render_notice(texts.BUSY), shown
        except Exception as error:  # the patient sees one fixed sentence, never an exception
            # The type only: an exception's message may quote the question (patient data).
            log.error("chat answer failed: %s", type(error).__name__)
            return render_notice(SERVICE_ERROR), shown
        shown[len(history) + 1] = [passage.doc_id for passage in answer.passages]
        return render_markdown(answer), shown

    def vote(shown: dict[int, list[str]] | None, like: gr.LikeData, request: gr.Request) -> None:
        # Gradio sends True (thumbs up), False (down), or "" when a vote is taken back: a taken
        # back vote stays counted, as nothing ties two votes together (no session is stored).
        doc_ids = (shown or {}).get(like.index) if isinstance(like.index, int) else None
        if not isinstance(like.liked, bool) or doc_ids is None:
            return
        if vote_limiter.take(request.client.host if request.client else ""):
            return
        try:
            feedback.record("up" if like.liked else "down", doc_ids)
        except Exception as error:  # a vote that cannot be stored is not worth an error on screen
            log.error("vote not stored: %s", type(error).__name__)

    chatbot = gr.Chatbot(
        label="Answers from the clinic's documents",
        elem_id=ANSWERS_ID,
        # The default "share" button was the only accessibility (axe) failure; copy is useful.
        buttons=["copy"],
        # Document text is escaped by render_markdown; these keep anything that slips through
        # inert: sanitised HTML, no custom tags, no LaTeX ("$50 ... $80" is not maths).
        sanitize_html=True,
        allow_tags=False,
        latex_delimiters=[],
        allow_file_downloads=False,
        # Thumbs up/down under each answer (vote() stores them): Gradio renders exactly these
        # two strings as the thumb buttons, named "Like" and "Dislike" for screen readers.
        feedback_options=("Like", "Dislike"),
        # Compact: the answers take whatever height the frame leaves.
        height=None if compact else 520,
        scale=1 if compact else None,
    )
    textbox = gr.Textbox(
        label="Your question",
        placeholder="Type your question here",
        lines=1,
        max_lines=6,
        # Compact: the launcher moves the focus when someone opens the chat; a framed page that
        # takes it by itself would pull it away from the clinic's page (data-open="true").
        autofocus=not compact,
        submit_btn="Ask",
        elem_id=QUESTION_ID,
        # Room past the limit, so a long message still reaches the assistant's polite refusal,
        # but a pasted 100 KB, which froze a browser tab for ~27 s, is cut short in the browser.
        max_length=2 * max_question_chars,
    )
    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_height=compact) as page:
        if not compact:
            gr.Markdown(f"# {TITLE}\n\n{INTRO}")
            gr.Markdown(f"**{DISCLAIMER}**", elem_id="disclaimer")
        else:
            # The widget's frame is a phone's width or 420 px: the whole text took a quarter of a
            # 360 px screen before any answer. One line here, the whole text a tap away; every
            # answer still ends with all of it.
            # Markdown, not gr.HTML: Gradio 6 renders an HTML component through a template it
            # evaluates as code, which the page's policy (no 'unsafe-eval') forbids.
            gr.Markdown(f"<details><summary>{html.escape(DISCLAIMER_SHORT)}</summary><p>{html.escape(DISCLAIMER)}</p>"
                        "</details>", elem_id="disclaimer")
        shown = gr.State({})
        gr.ChatInterface(
            respond,
            chatbot=chatbot,
            textbox=textbox,
            additional_inputs=[shown],
            additional_outputs=[shown],
            flagging_mode="never",  # "manual" writes whole conversations to a CSV file
            save_history=False,  # nothing about the conversation is kept in the browser
            analytics_enabled=False,
            # /api/ask is the supported API, with its own validation; Gradio's copy is not
            # offered to API clients (it passes numbers and null through unchecked).
            api_visibility="private",
        )
        # Not ChatInterface's own examples: Gradio lists those as buttons in a role="list",
        # which axe-core reports as a WCAG failure. These put the question in the box, for the
        # patient to change or send, and step aside after the first question to leave the room
        # to the answers (on a phone, they would take a quarter of the screen).
        examples = gr.Examples(
            [[question] for question in EXAMPLE_QUESTIONS],
            inputs=[textbox],
            label="Example questions",
            cache_examples=False,  # caching would run questions at start-up and store answers
        )
        chatbot.like(vote, inputs=[shown], outputs=None, queue=False, api_visibility="private")
        textbox.submit(lambda: gr.Dataset(visible=False), outputs=examples.dataset, queue=False, api_visibility="private")
    page.queue(max_size=QUEUE_MAX_SIZE)
    return page


def _plain_history(history: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The conversation as the assistant takes it: [{"role", "content": str}], text only.

    Gradio hands messages back normalised, their content a list of parts such as
    {"type": "text", "text": ...}; a message it has not normalised yet holds a plain string.
    """
    plain = []
    for message in history:
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, (str, dict)) else content or []
        texts = [
            part if isinstance(part, str) else part.get("text")
            for part in parts
            if isinstance(part, str) or (isinstance(part, dict) and part.get("type") == "text")
        ]
        text = "\n".join(t for t in texts if isinstance(t, str))
        if text:
            plain.append({"role": role, "content": text})
    return plain

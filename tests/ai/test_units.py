"""The pieces without the Whisper model: WER, local agreement, guards, VAD, protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai import protocol
from ai.agreement import LocalAgreement, TimedWord
from ai.exceptions import ProtocolError
from ai.guards import GuardOptions, compression_ratio, rejection, repeated_ngram
from ai.vad import Activity, SileroStream, SpeechGate
from ai.wer import normalize, wer
from tests.ai.conftest import JFK_TEXT, jfk


def test_wer_normalises_case_and_punctuation() -> None:
    assert normalize("Ask not, what-your  COUNTRY\u2019s") == ["ask", "not", "what", "your",
                                                          "country's"]
    assert wer(JFK_TEXT, JFK_TEXT.upper().replace(",", "")) == 0.0
    assert wer("a b c d", "a x c") == pytest.approx(0.5)  # one substitution, one deletion
    assert wer("", "") == 0.0
    assert wer("", "words") == 1.0


def _words(text: str, start: float = 0.0) -> list[TimedWord]:
    return [TimedWord(" " + w, start + i * 0.5, start + i * 0.5 + 0.4)
            for i, w in enumerate(text.split())]


def test_local_agreement_commits_what_two_hypotheses_share() -> None:
    agreement = LocalAgreement()
    assert agreement.insert(_words("ask not what")) == []
    committed = agreement.insert(_words("ask not what your country"))
    assert [w.key for w in committed] == ["ask", "not", "what"]
    assert [w.key for w in agreement.tentative] == ["your", "country"]
    # the next hypothesis re-reads committed audio: those words are not committed twice
    committed = agreement.insert(_words("ask not what your country can"))
    assert [w.key for w in committed] == ["your", "country"]
    assert [w.key for w in agreement.commit_all(_words("ask not what your country can do"))
            ] == ["can", "do"]


def test_local_agreement_holds_back_words_at_the_buffer_end() -> None:
    agreement = LocalAgreement()
    agreement.insert(_words("ask not what"))
    committed = agreement.insert(_words("ask not what"), stable_until=0.95)
    assert [w.key for w in committed] == ["ask", "not"]


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=8), max_size=8))
def test_committed_words_are_never_revised(hypotheses: list[list[str]]) -> None:
    agreement = LocalAgreement()
    seen: list[str] = []
    for hypothesis in hypotheses:
        seen += [w.key for w in agreement.insert(_words(" ".join(hypothesis)))]
        assert [w.key for w in agreement.committed] == seen


def test_guards_reject_loops_and_silence_not_speech() -> None:
    options = GuardOptions()

    def speech(text: str) -> str | None:
        return rejection(text=text, tokens=20, duration=5.0, avg_logprob=-0.3,
                         no_speech_prob=0.1, options=options)

    assert speech(JFK_TEXT) is None
    assert speech("No, no, no, that's wrong.") is None
    loop = "Thank you for watching. " * 6
    assert speech(loop) == "repetitive"
    assert repeated_ngram(("I'm going to go " * 3).split(), 3)
    assert compression_ratio(loop) > 2.4
    assert rejection(text="Thank you.", tokens=4, duration=2.0, avg_logprob=-1.2,
                     no_speech_prob=0.9, options=options) == "no speech"
    assert rejection(text="♪ ♪", tokens=3, duration=2.0, avg_logprob=-0.2,
                     no_speech_prob=0.1, options=options) == "no words"
    assert rejection(text="so " * 40, tokens=40, duration=1.0, avg_logprob=-0.2,
                     no_speech_prob=0.1, options=options) is not None


def test_streaming_vad_equals_a_whole_file_pass() -> None:
    audio = jfk()[:16000 * 4]
    whole = SileroStream()(audio)
    stream = SileroStream()
    pieces = [stream(audio[i:i + 1000]) for i in range(0, len(audio), 1000)]
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_gate_opens_on_speech_and_closes_after_silence() -> None:
    gate = SpeechGate()
    probs = np.array([0.1] * 5 + [0.9] * 20 + [0.1] * 30, dtype=np.float32)
    changes = gate.feed(probs)
    assert [c.activity for c in changes] == [Activity.speech, Activity.silence]
    assert changes[0].sample == 5 * 512
    assert changes[1].sample == 25 * 512
    assert gate.is_speech(changes[1].speech_samples)
    assert not gate.is_speech(SpeechGate().feed(np.array([0.9, 0.9] + [0.0] * 30))[1]
                              .speech_samples)


def test_protocol_accepts_a_good_header_and_names_what_is_wrong() -> None:
    params = {"streamId": "p1-a", "meetingId": "m", "participantId": "p",
              "speakerName": "Ada", "startMs": 1200, "sampleRate": 16000}
    header = protocol.StreamHeader.from_params(params)
    assert header.start_ms == 1200
    assert protocol.StreamHeader.from_params(header.to_params()) == header
    for bad in ({"sampleRate": 8000}, {"startMs": -1}, {"streamId": "x" * 41},
                {"speakerName": ""}, {"encoding": "opus"}, {"startMs": True}):
        with pytest.raises(ProtocolError) as caught:
            protocol.StreamHeader.from_params({**params, **bad})
        assert caught.value.code == protocol.INVALID_PARAMS
    for text, code in (("{", protocol.PARSE_ERROR), ("[]", protocol.INVALID_REQUEST),
                       ('{"jsonrpc": "2.0"}', protocol.INVALID_REQUEST),
                       ('{"jsonrpc": "2.0", "method": "X", "params": 3}',
                        protocol.INVALID_PARAMS)):
        with pytest.raises(ProtocolError) as caught:
            protocol.parse(text)
        assert caught.value.code == code
    assert json.loads(protocol.error(3, -32600, "no"))["error"]["data"] == {"retryable": False}

"""Multi-turn conversations, as people type them: through the engine and through gradio_client.

The model is a tiny T5 trained for a few steps on ``tests/assets/chat_catalog`` (the tiny catalog
plus a registered nurse and a healthcare administrator), so every scripted person is in it and
the scorer keeps its one-token fast path.
"""

import json
import re
from pathlib import Path

import pytest

from careerpath.app.demo import ChatState, DemoEngine, create_app, user_bubble
from careerpath.core.profile import ResolvedProfile
from careerpath.core.progression import coverage
from careerpath.data.feedback import FeedbackStore
from careerpath.serving.conversation import classify, describes_new_person, detect_language, self_description
from careerpath.serving.recommend import Recommender
from tests.conftest import launch_local

ROOT = Path(__file__).resolve().parents[1]
ANALYST = "I'm a data analyst, I know SQL and Excel, I want to become a machine learning engineer"
NURSE = "I'm a registered nurse and want to become a healthcare administrator"
TRUCKER = "I am a truck driver and I want to become a software developer"
NO_PROGRAMMING = "I don't have any programming skills yet"
SPANISH = "Soy analista de datos y quiero ser cientifico de datos"


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    from careerpath.core.config import load_config
    from careerpath.data.build import build_dataset, load_data_config
    from careerpath.training import training
    from tests.conftest import TINY_MODEL_ARGS

    catalog = ROOT / "tests" / "assets" / "chat_catalog"
    data = tmp_path_factory.mktemp("chat_data") / "data"
    build_dataset(
        load_data_config(ROOT / "configs/data/tiny.yaml", {"catalog": str(catalog)}), data, progress=False
    )
    out = tmp_path_factory.mktemp("chat_model") / "model"
    cfg = load_config(
        [
            "--config",
            str(ROOT / "configs" / "tiny_t5.yaml"),
            "--data.data-dir",
            str(data),
            "--train.output-dir",
            str(out),
        ]
        + TINY_MODEL_ARGS
    )
    return training.run_training(cfg)


@pytest.fixture(scope="module")
def engine(chat_model, tmp_path_factory):
    rec = Recommender.from_pretrained(chat_model, use_embeddings=False)
    assert rec.scorer.fast, "the chat catalog's names are single tokens of the tiny model"
    return DemoEngine(rec, FeedbackStore(tmp_path_factory.mktemp("conv") / "fb.sqlite"))


def profile_line(markdown: str) -> str:
    (line,) = [x for x in markdown.split("\n\n") if x.startswith("**Your profile**")]
    return line


def job_options(engine, markdown: str) -> list[str]:
    """Job ids listed under "Next job options" in an answer."""
    blocks = markdown.split("\n\n")
    at = next((i for i, b in enumerate(blocks) if b.startswith("**Next job options**")), None)
    titles = []
    for b in blocks[at + 1 :] if at is not None else []:
        m = re.match(r"- \*\*(.+?)\*\*", b)
        if not m:
            break
        titles.append(m.group(1).replace("\\", ""))
    return [engine.catalog.job_by_title[t].id for t in titles]


def check_shown(engine, answer) -> None:
    """What no answer may do: repeat a line or a phrase, or offer a job the person holds none of."""
    md = answer.markdown
    blocks = md.split("\n\n")
    assert len(blocks) == len(set(blocks)), "a line is repeated"
    assert not re.search(r"adds ([^.]+)\. adds \1", md)
    if answer.payload:
        skills = set(answer.payload["profile"]["skills"])
        for job in job_options(engine, md):
            assert coverage(skills, engine.catalog.jobs[job]) > 0, job
            assert job not in (answer.payload["profile"]["job"], answer.payload["profile"]["goal"])


def test_analyst_then_nurse_then_truck_driver_each_get_their_own_profile(engine):
    cat = engine.catalog
    answer, st = engine.handle(ANALYST, None)
    assert (st.profile.job, st.profile.goal) == ("data-analyst", "ml-engineer")
    assert {"sql", "excel"} <= set(st.profile.skills)
    assert "job Data Analyst" in profile_line(answer.markdown)
    check_shown(engine, answer)

    answer, st = engine.handle(NURSE, st)
    assert answer.markdown.startswith("I've started a new profile for a Registered Nurse.")
    assert (st.profile.job, st.profile.goal) == ("registered-nurse", "healthcare-administrator")
    assert st.profile.skills == [], "the analyst's skills must not follow the nurse"
    line = profile_line(answer.markdown)
    assert "job Registered Nurse" in line and "goal Healthcare Administrator" in line
    assert "SQL" not in line and "Microsoft Excel" not in line and "assumed from your job" in line
    assert set(answer.payload["profile"]["skills"]) == set(cat.jobs["registered-nurse"].skills)
    assert "Pathway to Healthcare Administrator" in answer.markdown
    check_shown(engine, answer)

    answer, st = engine.handle(TRUCKER, st)
    assert answer.markdown.startswith("I've started a new profile. I don't know the job 'truck driver'")
    assert st.profile.job is None and st.profile.goal == "software-engineer" and st.profile.skills == []
    line = profile_line(answer.markdown)
    assert "Registered Nurse" not in answer.markdown and "(not in the catalog: truck driver)" in line
    assert "goal Software Engineer" in line and "Pathway to Software Engineer" in answer.markdown
    check_shown(engine, answer)

    answer, st = engine.handle(NO_PROGRAMMING, st)
    assert "unknown skill" not in answer.markdown and "'yet'" not in answer.markdown
    assert "Noted: you don't have programming skills yet" in answer.markdown
    assert {"python", "javascript", "git"} <= set(st.profile.absent) and st.profile.skills == []
    assert st.profile.goal == "software-engineer" and "Pathway to Software Engineer" in answer.markdown

    answer, st = engine.handle("I know Python", st)
    assert st.profile.skills == ["python"] and "python" not in st.profile.absent
    assert "Updated your profile: added Python." in answer.markdown
    assert "skills Python" in profile_line(answer.markdown)


def test_an_update_keeps_the_person_and_says_what_changed(engine):
    answer, st = engine.handle(ANALYST, None)
    answer, st = engine.handle("I already know statistics", st)
    assert st.profile.job == "data-analyst" and "statistics" in st.profile.skills
    assert "Updated your profile: added Statistics." in answer.markdown
    assert "new profile" not in answer.markdown
    # describing the same job again is an update, not a new person
    answer, st = engine.handle("I'm a data analyst and I also know Python", st)
    assert "new profile" not in answer.markdown and {"statistics", "python"} <= set(st.profile.skills)
    answer, st = engine.handle("start over", st)
    assert st.profile.job is None and st.profile.skills == [] and answer.payload is None


def test_an_unknown_goal_is_reported_and_not_replaced_by_the_earlier_one(engine):
    _, st = engine.handle(ANALYST, None)
    answer, st = engine.handle("what about astronaut instead?", st)
    assert st.profile.goal is None and st.profile.job == "data-analyst"
    assert "unknown goal job 'astronaut'" in answer.markdown
    assert "goal (not given)" in profile_line(answer.markdown)
    assert "Machine Learning Engineer" not in profile_line(answer.markdown)


def test_foreign_empty_and_unintelligible_messages_get_an_honest_short_reply(engine):
    first, st = engine.handle(ANALYST, None)
    before = (st.profile.job, st.profile.goal, list(st.profile.skills))
    for message, expected in (
        (SPANISH, "This looks like Spanish"),
        ("Je suis analyste de données et je veux être data scientist", "This looks like French"),
        ("Ich bin Datenanalyst und möchte Data Scientist werden", "This looks like German"),
        ("   \n ", "Your message was empty"),
        ("", "Your message was empty"),
        ("blorp zindle quux", "I couldn't find a job, skill or course"),
    ):
        answer, st = engine.handle(message, st)
        assert answer.markdown.startswith(expected), (message, answer.markdown)
        assert answer.payload is None and "Pathway" not in answer.markdown
        assert len(answer.markdown) < 400 and "*I'm a data analyst" in answer.markdown
        assert (st.profile.job, st.profile.goal, list(st.profile.skills)) == before


def test_make_it_shorter_says_what_it_trades_and_offers_a_plan_that_reaches(engine):
    answer, st = engine.handle(ANALYST, None)
    assert "Pathway to Machine Learning Engineer**: goal reached" in answer.markdown
    answer, st = engine.handle("make it shorter", st)
    assert st.max_steps == 4 and st.constraints.max_hours == 20
    path = engine.rec.pathway(st.profile, max_steps=4, constraints=st.constraints)
    assert not path.reached  # no course of 20 h or less teaches deep learning in this catalog
    assert (
        "**Trade-off**: with courses of at most 20 hours and at most 4 course steps this plan does not "
        in (answer.markdown)
    )
    assert "The shortest plan I found that still reaches it" in answer.markdown and st.offer
    answer, st = engine.handle("ok, reach the goal", st)
    assert "Using the shortest plan that reaches your goal" in answer.markdown
    assert engine.rec.pathway(st.profile, max_steps=st.max_steps, constraints=st.constraints).reached
    assert "Trade-off" not in answer.markdown and "goal reached" in answer.markdown


def test_job_options_similar_courses_and_lines_are_worth_showing(engine):
    cat = engine.catalog
    answer, st = engine.handle(ANALYST, None)
    result = engine.rec.recommend(st.profile, top_k=10)
    skills = {s["id"] for s in result["profile"]["skills"]}
    options = engine.rank_jobs(result)
    assert options, "the analyst has jobs worth moving to"
    for j in options:
        job = cat.jobs[j["id"]]
        assert coverage(skills, job) > 0 and job.id not in ("data-analyst", "ml-engineer")
        assert job.level >= cat.jobs["data-analyst"].level
    # the next job on the route comes first; the goal (the pathway's), the current job, a job
    # below it and jobs of which the person holds no required skill are left out
    junior = ResolvedProfile(job="junior-data-analyst", goal="analytics-manager", skills=["excel", "sql"])
    result = engine.rec.recommend(junior, top_k=10)
    zero = engine._job_option("devops-engineer", {"excel", "sql"})
    result["next_jobs"] = [zero, *result["next_jobs"]]
    ranked = [j["id"] for j in engine.rank_jobs(result, k=10)]
    assert engine.rec.progression.next_hop("junior-data-analyst", "analytics-manager") == "data-analyst"
    assert ranked[0] == "data-analyst"
    assert not {"devops-engineer", "analytics-manager", "junior-data-analyst"} & set(ranked)
    similar = engine._similar("c-py1", ChatState())
    assert similar[0] == "Python Basics" and similar[1]
    for title in similar[1]:
        course = next(c for c in cat.courses.values() if c.title == title)
        assert "python" in course.skills and abs(course.level - 1) <= 1
    assert "Communication at Work" not in similar[1]
    assert "adds " in answer.markdown and ". adds" not in answer.markdown


def test_the_persons_text_is_shown_as_text():
    bubble = user_bubble("<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) $$x$$")
    assert bubble["role"] == "user"
    assert "<img" not in bubble["content"] and "&lt;img" in bubble["content"]
    assert r"\*\*bold\*\*" in bubble["content"] and "](javascript" not in bubble["content"]
    assert r"\$\$x\$\$" in bubble["content"]


def test_language_and_self_description_rules():
    for text in (
        ANALYST,
        NURSE,
        TRUCKER,
        NO_PROGRAMMING,
        "make it shorter",
        "SQL, Python",
        "no courses from Acme",
    ):
        assert detect_language(text) in ("en", ""), text
    assert detect_language(SPANISH) == "es" and detect_language("Я аналитик данных") == "other"
    assert classify("  ").kind == "empty" and classify("delete my data").kind == "delete_data"
    assert classify("start over, I'm a nurse").reset and classify(SPANISH).kind == "foreign"
    assert self_description(TRUCKER) == "truck driver" and self_description("I know SQL") is None
    assert self_description("I work as a registered nurse") == "registered nurse"
    assert describes_new_person(NURSE, "data-analyst", "registered-nurse")
    assert describes_new_person(TRUCKER, "registered-nurse", None)
    assert not describes_new_person("I'm a data analyst and I know R", "data-analyst", "data-analyst")
    assert not describes_new_person("I already know statistics", "data-analyst", None)


# ---------------------------------------------------------------------------------------------- served


@pytest.fixture(scope="module")
def served(chat_model, tmp_path_factory):
    demo, engine = create_app(
        str(chat_model), str(tmp_path_factory.mktemp("served") / "fb.sqlite"), use_embeddings=False
    )
    port = launch_local(demo)
    yield f"http://127.0.0.1:{port}/", engine
    demo.close()


@pytest.mark.slow
def test_gradio_client_scripts_check_profile_notes_and_stored_rows(served):
    from gradio_client import Client

    url, engine = served
    client = Client(url, verbose=False)

    def say(message: str) -> str:
        return client.predict(message, None, None, None, None, api_name="/chat")

    text = say(ANALYST)
    assert "job Data Analyst" in profile_line(text) and "goal Machine Learning Engineer" in profile_line(text)
    assert "saved" in client.predict(1, True, api_name="/feedback")
    text = say(NURSE)
    assert text.startswith("I've started a new profile for a Registered Nurse.")
    assert "SQL" not in profile_line(text)
    assert "saved" in client.predict(3, False, api_name="/feedback")
    text = say(TRUCKER)
    assert "(not in the catalog: truck driver)" in profile_line(text) and "Registered Nurse" not in text
    text = say(NO_PROGRAMMING)
    assert "unknown skill" not in text and "Noted: you don't have programming skills yet" in text
    assert say(SPANISH).startswith("This looks like Spanish")
    assert say("   ").startswith("Your message was empty")

    mine = json.loads(Path(client.predict(api_name="/my_data")).read_text())
    rows = mine["rows"]
    assert [r["rating"] for r in rows] == [1, -1]
    assert rows[0]["profile"]["job"] == "data-analyst" and {"sql", "excel"} <= set(
        rows[0]["profile"]["skills"]
    )
    assert (
        rows[1]["profile"]["job"] == "registered-nurse"
        and rows[1]["profile"]["goal"] == "healthcare-administrator"
    )
    assert not {"sql", "excel"} & set(rows[1]["profile"]["skills"]), (
        "the analyst's skills leaked into the nurse"
    )
    assert {r["session_id"] for r in rows} == {mine["session_id"]}
    assert len(engine.exports.files()) == 1  # this export, until it is replaced, deleted or expires
    assert "Deleted 2" in client.predict(api_name="/delete_my_data")
    assert engine.exports.files() == []
    again = json.loads(Path(client.predict(api_name="/my_data")).read_text())
    assert again["rows"] == [] and again["session_id"] == mine["session_id"]


def test_filler_words_never_reach_the_matchers(engine, monkeypatch):
    from careerpath.core.profile import ProfileResolver, looks_like_a_name

    resolver = ProfileResolver(engine.catalog, use_embeddings=True)
    asked = []
    monkeypatch.setattr(resolver, "_embed", lambda kind, raw: asked.append(raw) or (None, 0.0))
    prof = resolver.from_text("I know yet, any, some of it and a bit, I have experience with stuff")
    assert prof.skills == [] and prof.warnings == [] and asked == []
    assert not looks_like_a_name("any") and not looks_like_a_name("a bit of") and looks_like_a_name("R")
    prof = resolver.from_text("I know Phyton well and some kubernetes")
    assert "kubernetes" in prof.skills and "python" in prof.skills  # an alias and a name, fillers stripped
    resolver.from_text("I know underwater basket weaving", prof)
    assert asked == ["underwater basket weaving"]  # a name-like phrase may go to the embeddings

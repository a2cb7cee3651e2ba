"""The demo base: the coaching app whose team moves its API from Airtable to Postgres.

Two things live here, both pure data (no HTTP, no store):

* ``demo_schema()``: six tables in exactly the metadata-API format (``GET /v0/meta/bases/{id}/tables``) with
  **fixed ids**, so the sync spec shipped with the project matches every sandbox. Together the tables use every
  field type a real base has, with options shaped like Airtable's (see airtable_pg_tests/samples/field_schema).
  Computed fields (formula, lookup, rollup, count, created/modified time and by, autoNumber) are declared only;
  the store computes them. Rollups carry a private ``"_sandbox": {"rollup": AGG}`` because Airtable's metadata
  does not expose the aggregation function; the metadata API strips it.
* ``demo_records(total, seed)``: a deterministic stream of ``SeedRecord`` s, parents before children, holding only
  stored cells in the record-read (V1) format and only the *forward* side of each two-way link.

A second, small base (``hostile_schema``/``hostile_records``) has table and field names chosen to break naive SQL
quoting, URL building and column slugging.
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airtable_sandbox.store import SeedRecord

DEMO_BASE_ID = "appCoachingDemo01"


def demo_base_id(number: int) -> str:
    """The id of the ``number``-th copy of the demo base (1: the demo base itself), for many-bases runs."""
    if not 1 <= number <= 99:
        raise ValueError("the sandbox holds at most 99 copies of the demo base")
    return f"{DEMO_BASE_ID[:-2]}{number:02d}"


DEMO_BASE_NAME = "coaching"
HOSTILE_BASE_ID = "appHostileNames01"
HOSTILE_BASE_NAME = "hostile names"

# Every generated timestamp lies in the three years before this instant, so data does not depend on "now".
REFERENCE_TIME: float = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
HISTORY_SECONDS: float = 3 * 365 * 86_400.0
_DAY = 86_400.0

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# --------------------------------------------------------------------------------------------------------------------
# Fixed ids. Written out literally (not derived) so a reviewer can grep the shipped sync spec against them and a
# refactor cannot silently change them.
# --------------------------------------------------------------------------------------------------------------------

DEMO_TABLE_IDS: dict[str, str] = {
    "programs": "tblPrograms000001",
    "methods": "tblMethods0000001",
    "overtuigingen": "tblOvertuigingen1",
    "users": "tblUsers000000001",
    "persoonlijke_overtuigingen": "tblPersOvertuig01",
    "personal_goals": "tblPersonalGoals1",
}

PROGRAM_FIELDS: dict[str, str] = {
    "name": "fldPrgName0000000",
    "slug": "fldPrgSlug0000000",
    "description": "fldPrgDescript000",
    "status": "fldPrgStatus00000",
    "topics": "fldPrgTopics00000",
    "price": "fldPrgPrice000000",
    "duration_weeks": "fldPrgWeeks000000",
    "price_per_week": "fldPrgPricePerWk0",
    "start_date": "fldPrgStartDate00",
    "is_featured": "fldPrgFeatured000",
    "cover_image": "fldPrgCover000000",
    "owner": "fldPrgOwner000000",
    "landing_page": "fldPrgLanding0000",
    "methods": "fldPrgMethods0000",
    "personal_goals": "fldPrgGoals000000",
    "method_count": "fldPrgMethodCnt00",
    "method_names": "fldPrgMethodNms00",
}

METHOD_FIELDS: dict[str, str] = {
    "name": "fldMthName0000000",
    "program": "fldMthProgram0000",
    "kind": "fldMthKind0000000",
    "instructions": "fldMthInstruct000",
    "session_length": "fldMthSessionLen0",
    "difficulty": "fldMthDifficulty0",
    "video_url": "fldMthVideoUrl000",
    "sort_order": "fldMthSortOrder00",
    "program_name": "fldMthProgramNm00",
}

OVERTUIGING_FIELDS: dict[str, str] = {
    "titel": "fldOvtTitel000000",
    "toelichting": "fldOvtToelichtng0",
    "categorie": "fldOvtCategorie00",
    "helpend": "fldOvtHelpend0000",
    "bron": "fldOvtBron0000000",
    "persoonlijke_overtuigingen": "fldOvtPersOvt0000",
    "aantal_keer_gekozen": "fldOvtAantalKeer0",
    "gemiddelde_sterkte": "fldOvtGemSterkte0",
}

USER_FIELDS: dict[str, str] = {
    "name": "fldUsrName0000000",
    "email": "fldUsrEmail000000",
    "first_name": "fldUsrFirstName00",
    "last_name": "fldUsrLastName000",
    "full_name": "fldUsrFullName000",
    "phone": "fldUsrPhone000000",
    "role": "fldUsrRole0000000",
    "active": "fldUsrActive00000",
    "signup_date": "fldUsrSignupDate0",
    "last_login": "fldUsrLastLogin00",
    "avatar": "fldUsrAvatar00000",
    "coach": "fldUsrCoach000000",
    "support_team": "fldUsrSupportTm00",
    "member_card": "fldUsrMemberCard0",
    "bio": "fldUsrBio00000000",
    "notes": "fldUsrNotes000000",
    "website": "fldUsrWebsite0000",
    "personal_goals": "fldUsrGoals000000",
    "persoonlijke_overtuigingen": "fldUsrPersOvt0000",
    "goal_count": "fldUsrGoalCount00",
    "minutes_practiced_total": "fldUsrMinutesTot0",
    "goal_progress": "fldUsrGoalProgr00",
    "member_number": "fldUsrMemberNr000",
    "created": "fldUsrCreated0000",
    "last_modified": "fldUsrLastModif00",
    "created_by": "fldUsrCreatedBy00",
    "last_modified_by": "fldUsrLastModBy00",
}

PERSOONLIJKE_OVERTUIGING_FIELDS: dict[str, str] = {
    "omschrijving": "fldPovOmschrijv00",
    "gebruiker": "fldPovGebruiker00",
    "overtuiging": "fldPovOvertuigng0",
    "sterkte": "fldPovSterkte0000",
    "sterkte_na": "fldPovSterkteNa00",
    "verschil": "fldPovVerschil000",
    "status": "fldPovStatus00000",
    "reflectie": "fldPovReflectie00",
    "begeleiders": "fldPovBegeleiders",
    "vastgelegd_op": "fldPovVastgelegd0",
    "overtuiging_titel": "fldPovOvtTitel000",
    "gebruiker_email": "fldPovGebrEmail00",
}

GOAL_FIELDS: dict[str, str] = {
    "title": "fldGolTitle000000",
    "user": "fldGolUser0000000",
    "program": "fldGolProgram0000",
    "description": "fldGolDescript000",
    "status": "fldGolStatus00000",
    "priority": "fldGolPriority000",
    "focus_areas": "fldGolFocusAreas0",
    "target_minutes": "fldGolTargetMin00",
    "minutes_practiced": "fldGolMinutesPrc0",
    "progress": "fldGolProgress000",
    "budget": "fldGolBudget00000",
    "time_spent": "fldGolTimeSpent00",
    "deadline": "fldGolDeadline000",
    "days_to_deadline": "fldGolDaysToDeadl",
    "reminder_at": "fldGolReminderAt0",
    "completed": "fldGolCompleted00",
    "evidence": "fldGolEvidence000",
    "user_email": "fldGolUserEmail00",
    "goal_number": "fldGolGoalNumber0",
    "created": "fldGolCreated0000",
    "last_modified": "fldGolLastModif00",
}

# The people who work in the base (Airtable collaborators), as V1 collaborator cells.
DEMO_COLLABORATORS: tuple[dict[str, str], ...] = (
    {"id": "usrAnoukDeWit0001", "email": "anouk@coaching.example", "name": "Anouk de Wit"},
    {"id": "usrBramVisser0002", "email": "bram@coaching.example", "name": "Bram Visser"},
    {"id": "usrChenLi00000003", "email": "chen@coaching.example", "name": "Chen Li"},
    {"id": "usrDewiSantoso004", "email": "dewi@coaching.example", "name": "Dewi Santoso"},
    {"id": "usrEvaJansenOps05", "email": "eva.ops@coaching.example", "name": "Eva Jansen"},
)
_COACHES = DEMO_COLLABORATORS[:4]

Choice = tuple[str, str, str]  # (id, name, color)

PROGRAM_STATUS: tuple[Choice, ...] = (
    ("selPrgStatDraft01", "draft", "grayLight2"),
    ("selPrgStatPublsh2", "published", "greenLight2"),
    ("selPrgStatArchiv3", "archived", "redLight2"),
)
PROGRAM_TOPICS: tuple[Choice, ...] = (
    ("selPrgTopMindset1", "mindset", "blueLight2"),
    ("selPrgTopStress02", "stress", "orangeLight2"),
    ("selPrgTopSleep003", "sleep", "purpleLight2"),
    ("selPrgTopLeader04", "leadership", "tealLight2"),
    ("selPrgTopRelatie5", "relationships", "pinkLight2"),
    ("selPrgTopEnergy06", "energy", "yellowLight2"),
)
METHOD_KINDS: tuple[Choice, ...] = (
    ("selMthKindExerc01", "exercise", "greenBright"),
    ("selMthKindReflec2", "reflection", "blueBright"),
    ("selMthKindMedita3", "meditation", "purpleBright"),
    ("selMthKindJourna4", "journaling", "yellowBright"),
    ("selMthKindConver5", "conversation", "cyanBright"),
)
OVERTUIGING_CATEGORIES: tuple[Choice, ...] = (
    ("selOvtCatZelfbe01", "zelfbeeld", "blueLight2"),
    ("selOvtCatRelati02", "relaties", "pinkLight2"),
    ("selOvtCatWerk0003", "werk", "tealLight2"),
    ("selOvtCatGezond04", "gezondheid", "greenLight2"),
    ("selOvtCatGeld0005", "geld", "yellowLight2"),
    ("selOvtCatPresta06", "prestatie", "orangeLight2"),
)
USER_ROLES: tuple[Choice, ...] = (
    ("selUsrRoleClient1", "client", "blueLight2"),
    ("selUsrRoleCoach02", "coach", "greenLight2"),
    ("selUsrRoleAdmin03", "admin", "redLight2"),
)
POV_STATUS: tuple[Choice, ...] = (
    ("selPovStatNieuw01", "nieuw", "grayLight2"),
    ("selPovStatOnderz2", "onderzoeken", "yellowLight2"),
    ("selPovStatUitged3", "uitgedaagd", "orangeLight2"),
    ("selPovStatLosgel4", "losgelaten", "greenLight2"),
)
GOAL_STATUS: tuple[Choice, ...] = (
    ("selGolStatNotSta1", "Not started", "grayLight2"),
    ("selGolStatInProg2", "In progress", "yellowLight2"),
    ("selGolStatComple3", "Completed", "greenLight2"),
    ("selGolStatAbando4", "Abandoned", "redLight2"),
)
GOAL_FOCUS_AREAS: tuple[Choice, ...] = (
    ("selGolFocHealth01", "health", "greenLight1"),
    ("selGolFocCareer02", "career", "blueLight1"),
    ("selGolFocRelati03", "relationships", "pinkLight1"),
    ("selGolFocMindfu04", "mindfulness", "purpleLight1"),
    ("selGolFocFinanc05", "finance", "yellowLight1"),
    ("selGolFocLearni06", "learning", "cyanLight1"),
)

# Share of the requested total per table (sums to 1); every table gets at least one record.
TABLE_SHARES: dict[str, float] = {
    "programs": 0.01,
    "methods": 0.03,
    "overtuigingen": 0.01,
    "users": 0.20,
    "persoonlijke_overtuigingen": 0.35,
    "personal_goals": 0.40,
}

# --------------------------------------------------------------------------------------------------------------------
# Schema building blocks
# --------------------------------------------------------------------------------------------------------------------

_REF_IN_TEMPLATE = re.compile(r"\{([a-z_]+)\}")
_FIELD_ID_REF = re.compile(r"\{(fld[0-9A-Za-z]{14})\}")


def _field(
    field_id: str, name: str, field_type: str, options: dict[str, Any] | None = None, description: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"id": field_id, "name": name, "type": field_type}
    if options is not None:
        spec["options"] = options
    if description is not None:
        spec["description"] = description
    return spec


def _choices(choices: tuple[Choice, ...]) -> dict[str, Any]:
    return {"choices": [{"id": cid, "name": name, "color": color} for cid, name, color in choices]}


def _date_format(name: str) -> dict[str, str]:
    formats = {"local": "l", "friendly": "LL", "us": "M/D/YYYY", "european": "D/M/YYYY", "iso": "YYYY-MM-DD"}
    return {"name": name, "format": formats[name]}


def _time_format(name: str) -> dict[str, str]:
    return {"name": name, "format": "HH:mm" if name == "24hour" else "h:mma"}


def _date_options(date_format: str) -> dict[str, Any]:
    return {"dateFormat": _date_format(date_format)}


def _datetime_options(time_zone: str, date_format: str, time_format: str) -> dict[str, Any]:
    return {"timeZone": time_zone, "dateFormat": _date_format(date_format), "timeFormat": _time_format(time_format)}


def _link(field_id: str, name: str, linked_table_id: str, inverse_field_id: str, *, single: bool) -> dict[str, Any]:
    options = {
        "linkedTableId": linked_table_id,
        "inverseLinkFieldId": inverse_field_id,
        "isReversed": False,
        "prefersSingleRecordLink": single,
    }
    return _field(field_id, name, "multipleRecordLinks", options)


def _lookup(
    field_id: str, name: str, link_field_id: str, target_field_id: str, result: dict[str, Any]
) -> dict[str, Any]:
    options = {
        "isValid": True,
        "recordLinkFieldId": link_field_id,
        "fieldIdInLinkedTable": target_field_id,
        "result": result,
    }
    return _field(field_id, name, "multipleLookupValues", options)


def _rollup(
    field_id: str, name: str, link_field_id: str, target_field_id: str, aggregation: str, result: dict[str, Any]
) -> dict[str, Any]:
    options = {
        "isValid": True,
        "recordLinkFieldId": link_field_id,
        "fieldIdInLinkedTable": target_field_id,
        "referencedFieldIds": [target_field_id],
        "result": result,
    }
    spec = _field(field_id, name, "rollup", options)
    spec["_sandbox"] = {"rollup": aggregation}
    return spec


def _count(field_id: str, name: str, link_field_id: str) -> dict[str, Any]:
    return _field(field_id, name, "count", {"isValid": True, "recordLinkFieldId": link_field_id})


def _formula(
    field_id: str, name: str, template: str, field_ids: dict[str, str], result: dict[str, Any], description: str
) -> dict[str, Any]:
    """A formula written with readable ``{snake_name}`` references, stored the way Airtable does: ``{fldXXX}``."""
    formula = _REF_IN_TEMPLATE.sub(lambda match: "{" + field_ids[match.group(1)] + "}", template)
    referenced = list(dict.fromkeys(_FIELD_ID_REF.findall(formula)))
    options = {"formula": formula, "isValid": True, "referencedFieldIds": referenced, "result": result}
    return _field(field_id, name, "formula", options, description)


def _created_time(field_id: str, name: str) -> dict[str, Any]:
    result = {"type": "dateTime", "options": _datetime_options("client", "local", "12hour")}
    return _field(field_id, name, "createdTime", {"result": result})


def _last_modified_time(field_id: str, name: str) -> dict[str, Any]:
    result = {"type": "dateTime", "options": _datetime_options("client", "local", "12hour")}
    return _field(field_id, name, "lastModifiedTime", {"isValid": True, "referencedFieldIds": [], "result": result})


def _attachments(field_id: str, name: str) -> dict[str, Any]:
    return _field(field_id, name, "multipleAttachments", {"isReversed": False})


def _table(
    table_id: str, name: str, fields: list[dict[str, Any]], views: list[tuple[str, str, str]], description: str
) -> dict[str, Any]:
    return {
        "id": table_id,
        "name": name,
        "description": description,
        "primaryFieldId": fields[0]["id"],
        "fields": fields,
        "views": [{"id": vid, "name": vname, "type": vtype} for vid, vname, vtype in views],
    }


_PERCENT = {"type": "percent", "options": {"precision": 0}}
_EURO = {"precision": 2, "symbol": "€"}


# --------------------------------------------------------------------------------------------------------------------
# The demo schema
# --------------------------------------------------------------------------------------------------------------------


def _programs_table() -> dict[str, Any]:
    f, t = PROGRAM_FIELDS, DEMO_TABLE_IDS
    fields = [
        _field(f["name"], "name", "singleLineText", description="Shown in the app's program catalog"),
        _field(f["slug"], "slug", "singleLineText"),
        _field(f["description"], "description", "richText"),
        _field(f["status"], "status", "singleSelect", _choices(PROGRAM_STATUS)),
        _field(f["topics"], "topics", "multipleSelects", _choices(PROGRAM_TOPICS)),
        _field(f["price"], "price", "currency", dict(_EURO)),
        _field(f["duration_weeks"], "duration_weeks", "number", {"precision": 0}, "0 means self-paced"),
        _formula(
            f["price_per_week"],
            "price_per_week",
            "ROUND({price} / {duration_weeks}, 2)",
            f,
            {"type": "currency", "options": dict(_EURO)},
            "#DIV/0! for self-paced programs (0 weeks)",
        ),
        _field(f["start_date"], "start_date", "date", _date_options("iso")),
        _field(f["is_featured"], "is_featured", "checkbox", {"icon": "star", "color": "yellowBright"}),
        _attachments(f["cover_image"], "cover_image"),
        _field(f["owner"], "owner", "singleCollaborator"),
        _field(f["landing_page"], "landing_page", "url"),
        _link(f["methods"], "methods", t["methods"], METHOD_FIELDS["program"], single=False),
        _link(f["personal_goals"], "personal_goals", t["personal_goals"], GOAL_FIELDS["program"], single=False),
        _count(f["method_count"], "method_count", f["methods"]),
        _rollup(
            f["method_names"],
            "method_names",
            f["methods"],
            METHOD_FIELDS["name"],
            "ARRAYJOIN",
            {"type": "singleLineText"},
        ),
    ]
    views = [("viwProgramsGrid01", "Grid view", "grid"), ("viwProgramsGalry1", "Catalog", "gallery")]
    return _table(t["programs"], "programs", fields, views, "Coaching programs offered in the app")


def _methods_table() -> dict[str, Any]:
    f, t = METHOD_FIELDS, DEMO_TABLE_IDS
    fields = [
        _field(f["name"], "name", "singleLineText"),
        _link(f["program"], "program", t["programs"], PROGRAM_FIELDS["methods"], single=True),
        _field(f["kind"], "kind", "singleSelect", _choices(METHOD_KINDS)),
        _field(f["instructions"], "instructions", "multilineText"),
        _field(f["session_length"], "session_length", "duration", {"durationFormat": "h:mm"}),
        _field(f["difficulty"], "difficulty", "rating", {"icon": "flag", "max": 3, "color": "redBright"}),
        _field(f["video_url"], "video_url", "url"),
        _field(f["sort_order"], "sort_order", "number", {"precision": 0}),
        _lookup(f["program_name"], "program_name", f["program"], PROGRAM_FIELDS["name"], {"type": "singleLineText"}),
    ]
    views = [("viwMethodsGrid001", "Grid view", "grid"), ("viwMethodsKanban1", "By kind", "kanban")]
    return _table(t["methods"], "methods", fields, views, "Exercises and techniques used inside programs")


def _overtuigingen_table() -> dict[str, Any]:
    f, t = OVERTUIGING_FIELDS, DEMO_TABLE_IDS
    pov = PERSOONLIJKE_OVERTUIGING_FIELDS
    fields = [
        _field(f["titel"], "titel", "singleLineText", description="De overtuiging zoals de coach haar formuleert"),
        _field(f["toelichting"], "toelichting", "multilineText"),
        _field(f["categorie"], "categorie", "singleSelect", _choices(OVERTUIGING_CATEGORIES)),
        _field(f["helpend"], "helpend", "checkbox", {"icon": "check", "color": "greenBright"}),
        _field(f["bron"], "bron", "url"),
        _link(
            f["persoonlijke_overtuigingen"],
            "persoonlijke_overtuigingen",
            t["persoonlijke_overtuigingen"],
            pov["overtuiging"],
            single=False,
        ),
        _count(f["aantal_keer_gekozen"], "aantal_keer_gekozen", f["persoonlijke_overtuigingen"]),
        _rollup(
            f["gemiddelde_sterkte"],
            "gemiddelde_sterkte",
            f["persoonlijke_overtuigingen"],
            pov["sterkte"],
            "AVERAGE",
            _PERCENT,
        ),
    ]
    views = [("viwOvertuigGrid01", "Grid view", "grid")]
    return _table(t["overtuigingen"], "overtuigingen", fields, views, "Catalogus van overtuigingen")


def _users_table() -> dict[str, Any]:
    f, t = USER_FIELDS, DEMO_TABLE_IDS
    goals, pov = GOAL_FIELDS, PERSOONLIJKE_OVERTUIGING_FIELDS
    fields = [
        _field(f["name"], "name", "singleLineText", description="Display name; not unique"),
        _field(f["email"], "email", "email", description="Login; unique per user"),
        _field(f["first_name"], "first_name", "singleLineText"),
        _field(f["last_name"], "last_name", "singleLineText"),
        _formula(
            f["full_name"],
            "full_name",
            'TRIM({first_name} & " " & {last_name})',
            f,
            {"type": "singleLineText"},
            "First and last name joined",
        ),
        _field(f["phone"], "phone", "phoneNumber"),
        _field(f["role"], "role", "singleSelect", _choices(USER_ROLES)),
        _field(f["active"], "active", "checkbox", {"icon": "check", "color": "greenBright"}),
        _field(f["signup_date"], "signup_date", "date", _date_options("european")),
        _field(f["last_login"], "last_login", "dateTime", _datetime_options("Europe/Amsterdam", "european", "24hour")),
        _attachments(f["avatar"], "avatar"),
        _field(f["coach"], "coach", "singleCollaborator"),
        _field(f["support_team"], "support_team", "multipleCollaborators"),
        _field(f["member_card"], "member_card", "barcode"),
        _field(f["bio"], "bio", "richText"),
        _field(f["notes"], "notes", "multilineText"),
        _field(f["website"], "website", "url"),
        _link(f["personal_goals"], "personal_goals", t["personal_goals"], goals["user"], single=False),
        _link(
            f["persoonlijke_overtuigingen"],
            "persoonlijke_overtuigingen",
            t["persoonlijke_overtuigingen"],
            pov["gebruiker"],
            single=False,
        ),
        _count(f["goal_count"], "goal_count", f["personal_goals"]),
        _rollup(
            f["minutes_practiced_total"],
            "minutes_practiced_total",
            f["personal_goals"],
            goals["minutes_practiced"],
            "SUM",
            {"type": "number", "options": {"precision": 0}},
        ),
        _lookup(f["goal_progress"], "goal_progress", f["personal_goals"], goals["progress"], _PERCENT),
        _field(f["member_number"], "member_number", "autoNumber"),
        _created_time(f["created"], "created"),
        _last_modified_time(f["last_modified"], "last_modified"),
        _field(f["created_by"], "created_by", "createdBy"),
        _field(f["last_modified_by"], "last_modified_by", "lastModifiedBy"),
    ]
    views = [("viwUsersGrid00001", "Grid view", "grid"), ("viwUsersSignupFrm", "Sign-up form", "form")]
    return _table(t["users"], "users", fields, views, "People using the coaching app")


def _persoonlijke_overtuigingen_table() -> dict[str, Any]:
    f, t = PERSOONLIJKE_OVERTUIGING_FIELDS, DEMO_TABLE_IDS
    fields = [
        _field(f["omschrijving"], "omschrijving", "singleLineText"),
        _link(f["gebruiker"], "gebruiker", t["users"], USER_FIELDS["persoonlijke_overtuigingen"], single=True),
        _link(
            f["overtuiging"],
            "overtuiging",
            t["overtuigingen"],
            OVERTUIGING_FIELDS["persoonlijke_overtuigingen"],
            single=True,
        ),
        _field(f["sterkte"], "sterkte", "percent", {"precision": 0}, "Hoe sterk de gebruiker erin gelooft"),
        _field(f["sterkte_na"], "sterkte_na", "percent", {"precision": 0}),
        _formula(
            f["verschil"],
            "verschil",
            "IF({sterkte_na}, {sterkte} - {sterkte_na}, BLANK())",
            f,
            _PERCENT,
            "Afname van de sterkte na het traject",
        ),
        _field(f["status"], "status", "singleSelect", _choices(POV_STATUS)),
        _field(f["reflectie"], "reflectie", "multilineText"),
        _field(f["begeleiders"], "begeleiders", "multipleCollaborators"),
        _field(f["vastgelegd_op"], "vastgelegd_op", "date", _date_options("european")),
        _lookup(
            f["overtuiging_titel"],
            "overtuiging_titel",
            f["overtuiging"],
            OVERTUIGING_FIELDS["titel"],
            {"type": "singleLineText"},
        ),
        _lookup(f["gebruiker_email"], "gebruiker_email", f["gebruiker"], USER_FIELDS["email"], {"type": "email"}),
    ]
    views = [("viwPersOvtGrid001", "Grid view", "grid")]
    return _table(
        t["persoonlijke_overtuigingen"],
        "persoonlijke_overtuigingen",
        fields,
        views,
        "Overtuigingen zoals een gebruiker ze zelf heeft vastgelegd",
    )


def _personal_goals_table() -> dict[str, Any]:
    f, t = GOAL_FIELDS, DEMO_TABLE_IDS
    fields = [
        _field(f["title"], "title", "singleLineText"),
        _link(f["user"], "user", t["users"], USER_FIELDS["personal_goals"], single=True),
        _link(f["program"], "program", t["programs"], PROGRAM_FIELDS["personal_goals"], single=True),
        _field(f["description"], "description", "multilineText"),
        _field(f["status"], "status", "singleSelect", _choices(GOAL_STATUS)),
        _field(f["priority"], "priority", "rating", {"icon": "star", "max": 5, "color": "yellowBright"}),
        _field(f["focus_areas"], "focus_areas", "multipleSelects", _choices(GOAL_FOCUS_AREAS)),
        _field(f["target_minutes"], "target_minutes", "number", {"precision": 0}),
        _field(f["minutes_practiced"], "minutes_practiced", "number", {"precision": 0}),
        _formula(
            f["progress"],
            "progress",
            "{minutes_practiced} / {target_minutes}",
            f,
            _PERCENT,
            "#DIV/0! (or NaN) while no target is set",
        ),
        _field(f["budget"], "budget", "currency", dict(_EURO)),
        _field(f["time_spent"], "time_spent", "duration", {"durationFormat": "h:mm:ss"}),
        _field(f["deadline"], "deadline", "date", _date_options("iso")),
        _formula(
            f["days_to_deadline"],
            "days_to_deadline",
            "IF({deadline}, DATETIME_DIFF({deadline}, CREATED_TIME(), 'days'), ERROR())",
            f,
            {"type": "number", "options": {"precision": 0}},
            "#ERROR! when the goal has no deadline",
        ),
        _field(f["reminder_at"], "reminder_at", "dateTime", _datetime_options("utc", "iso", "24hour")),
        _field(f["completed"], "completed", "checkbox", {"icon": "check", "color": "greenBright"}),
        _attachments(f["evidence"], "evidence"),
        _lookup(f["user_email"], "user_email", f["user"], USER_FIELDS["email"], {"type": "email"}),
        _field(f["goal_number"], "goal_number", "autoNumber"),
        _created_time(f["created"], "created"),
        _last_modified_time(f["last_modified"], "last_modified"),
    ]
    views = [("viwGoalsGrid00001", "Grid view", "grid"), ("viwGoalsCalendar1", "Deadlines", "calendar")]
    return _table(t["personal_goals"], "personal_goals", fields, views, "Goals users set for themselves")


def demo_schema() -> list[dict[str, Any]]:
    """The demo base's tables in metadata-API format (a fresh copy on every call: callers may mutate it)."""
    return [
        _programs_table(),
        _methods_table(),
        _overtuigingen_table(),
        _users_table(),
        _persoonlijke_overtuigingen_table(),
        _personal_goals_table(),
    ]


# --------------------------------------------------------------------------------------------------------------------
# Record generation: shared helpers
# --------------------------------------------------------------------------------------------------------------------


def demo_table_counts(total: int) -> dict[str, int]:
    """How ``total`` records split across the tables: by ``TABLE_SHARES``, at least one each, summing to ``total``."""
    if total < len(TABLE_SHARES):
        raise ValueError(f"the demo base needs at least {len(TABLE_SHARES)} records (one per table), got {total}")
    exact = {table: total * share for table, share in TABLE_SHARES.items()}
    counts = {table: max(1, int(value)) for table, value in exact.items()}
    shortfall = total - sum(counts.values())
    by_remainder = sorted(TABLE_SHARES, key=lambda table: (exact[table] - int(exact[table]), TABLE_SHARES[table]))
    while shortfall > 0:  # largest remainders first
        for table in reversed(by_remainder):
            if shortfall == 0:
                break
            counts[table] += 1
            shortfall -= 1
    while shortfall < 0:  # the minimum of one pushed us over: take from the biggest tables
        biggest = max(counts, key=lambda table: counts[table])
        counts[biggest] -= 1
        shortfall += 1
    return counts


def _airtable_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(_ALNUM, k=14))


def _millis(moment: float) -> float:
    """Airtable keeps milliseconds; floor so that formatting never rounds up past the reference instant."""
    return int(moment * 1000) / 1000


def _iso_datetime(moment: float) -> str:
    millis = int(moment * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def _iso_date(moment: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(moment))


def _ascending_created(rng: random.Random, index: int, count: int) -> float:
    """Creation times that grow with ``index`` and crowd towards the reference instant (the app is growing).

    The age density falls linearly from "now" to three years back: ``age = span * (1 - sqrt(u))``.
    """
    position = (index + rng.random()) / count
    return _millis(REFERENCE_TIME - HISTORY_SECONDS * (1.0 - position**0.5))


def _created_after(rng: random.Random, earliest: float) -> float:
    """A child's creation time: after its parents, usually soon after (people set goals when they sign up)."""
    return _millis(earliest + (REFERENCE_TIME - earliest) * rng.random() ** 2)


def _modified_after(rng: random.Random, created: float) -> float:
    if rng.random() < 0.4:
        return created
    return _millis(created + (REFERENCE_TIME - created) * rng.random() ** 3)


def _moment_between(rng: random.Random, start: float, end: float) -> float:
    return _millis(start + (end - start) * rng.random())


def _image_attachment(rng: random.Random, filename: str, width: int, height: int, size: int) -> dict[str, Any]:
    attachment_id = _airtable_id(rng, "att")
    token = "".join(rng.choices(_ALNUM, k=22))
    thumbs = f"https://dl.airtable.com/.attachmentThumbnails/{token}"
    small_w = max(1, round(36 * width / height))
    large_scale = min(1.0, 512 / max(width, height))
    return {
        "id": attachment_id,
        "width": width,
        "height": height,
        "url": f"https://dl.airtable.com/.attachments/{token}/{attachment_id[3:]}/{filename}",
        "filename": filename,
        "size": size,
        "type": "image/png" if filename.endswith(".png") else "image/jpeg",
        "thumbnails": {
            "small": {"url": f"{thumbs}/small", "width": small_w, "height": 36},
            "large": {
                "url": f"{thumbs}/large",
                "width": round(width * large_scale),
                "height": round(height * large_scale),
            },
            "full": {"url": f"{thumbs}/full", "width": width, "height": height},
        },
    }


def _collaborator(rng: random.Random, pool: tuple[dict[str, str], ...]) -> dict[str, str]:
    return dict(rng.choice(pool))  # a copy: consumers may mutate cells


def _collaborators(rng: random.Random, most: int) -> list[dict[str, str]]:
    return [dict(person) for person in rng.sample(DEMO_COLLABORATORS, rng.randint(1, most))]


def _weighted(choices: tuple[Choice, ...], weights: tuple[int, ...]) -> list[str]:
    """A pool where each choice name appears ``weight`` times: ``rng.choice`` on it is a cheap weighted draw."""
    return [name for (_, name, _), weight in zip(choices, weights, strict=True) for _ in range(weight)]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


@dataclass
class _Parents:
    """What children need to know about an already emitted table: ids, creation times, and maybe a label."""

    ids: list[str] = field(default_factory=list)
    created: array = field(default_factory=lambda: array("d"))
    labels: list[str] = field(default_factory=list)

    def add(self, record_id: str, created: float, label: str | None = None) -> None:
        self.ids.append(record_id)
        self.created.append(created)
        if label is not None:
            self.labels.append(label)

    def pick(self, rng: random.Random) -> int:
        return int(rng.random() * len(self.ids))


# --------------------------------------------------------------------------------------------------------------------
# Content pools (picked with rng.choice; never built per record)
# --------------------------------------------------------------------------------------------------------------------

_PROGRAM_NAMES = (
    "Mindful Leiderschap",
    "Stress de Baas",
    "Slaap Beter in 6 Weken",
    "Energie Boost",
    "Grenzen Stellen",
    "Van Piekeren naar Plannen",
    "Zelfvertrouwen op Werk",
    "Burn-out Herstel",
    "Focus & Flow",
    "Veerkracht",
    "Communicatie met Impact",
    "Gezonde Gewoontes",
    "Loopbaan Kompas",
    "Relaties in Balans",
    "Omgaan met Verandering",
)
_PROGRAM_BLURBS = (
    "Een praktisch traject met wekelijkse opdrachten en een persoonlijke coach.",
    "Korte dagelijkse oefeningen die je in je eigen tempo doet.",
    "Samen met een kleine groep werk je aan wat jou tegenhoudt.",
    "Wetenschappelijk onderbouwd, met ruimte voor reflectie.",
)
_METHODS = (  # (name, kind): the kind must fit the method
    ("Ademhaling 4-7-8", "exercise"),
    ("Body scan", "meditation"),
    ("Dankbaarheidsdagboek", "journaling"),
    ("Gedachten uitdagen (ABC)", "reflection"),
    ("Waardenkompas", "reflection"),
    ("Wandelmeditatie", "meditation"),
    ("Zorgenkwartier", "exercise"),
    ("Timeboxing", "exercise"),
    ("Socratisch gesprek", "conversation"),
    ("Visualisatie toekomst-ik", "meditation"),
    ("Progressieve spierontspanning", "exercise"),
    ("Energiegevers en -vreters", "reflection"),
    ("Cirkel van invloed", "reflection"),
    ("Vijf keer waarom", "journaling"),
    ("Slaapdagboek", "journaling"),
    ("Compassievolle brief", "journaling"),
    ("Pomodoro", "exercise"),
    ("Feedback vragen", "conversation"),
    ("Grenzen oefenen", "conversation"),
    ("Rollenspel", "conversation"),
)
_METHOD_INSTRUCTIONS = (
    "Zoek een rustige plek.\nZet een timer op 10 minuten.\nVolg de stappen in de video.",
    "Schrijf drie dingen op die vandaag goed gingen.\nWaarom gingen ze goed?",
    "Noteer de situatie, je gedachte en je gevoel.\nZoek bewijs voor en tegen de gedachte.",
    "Plan dit moment vast in je agenda.\nEvalueer na afloop kort: wat merkte je?",
)
# Belief = template × (object, verb): "Ik moet {o} {v}" or "Het is oké om {o} te {v}" keeps the Dutch grammatical.
_OVERTUIGING_TEMPLATES = (
    "Ik moet {o} {v}",
    "Ik mag niet {o} {v}",
    "Ik kan niet {o} {v}",
    "Het is gevaarlijk om {o} te {v}",
    "Ik ben bang om {o} te {v}",
    "Ik verdien het om {o} te {v}",
    "Het is oké om {o} te {v}",
)
_HELPFUL_TEMPLATES = frozenset({"Ik verdien het om {o} te {v}", "Het is oké om {o} te {v}"})
_OVERTUIGING_ACTIONS = (
    ("altijd perfect", "presteren"),
    ("nee", "zeggen"),
    ("fouten", "maken"),
    ("hulp", "vragen"),
    ("rust", "nemen"),
    ("succesvol", "zijn"),
    ("mijn mening", "geven"),
    ("iedereen tevreden", "houden"),
    ("boos", "worden"),
    ("gezien", "worden"),
    ("geld aan mezelf", "besteden"),
    ("het alleen", "doen"),
)
_OVERTUIGING_TOELICHTING = (
    "Komt vaak voort uit hoge verwachtingen in de jeugd.",
    "Veel voorkomend bij mensen met een leidinggevende rol.",
    "Deze overtuiging beschermt je ergens tegen, maar kost ook energie.",
    "Vaak gekoppeld aan perfectionisme.\nBespreek voorbeelden uit de afgelopen week.",
)
_POV_SUFFIXES = ("", "", "", " (vooral op werk)", " als ik moe ben", " — thuis", " tegenover mijn ouders")
_POV_REFLECTIES = (
    "Gemerkt dat dit vooral speelt in vergaderingen.",
    "Vandaag bewust nee gezegd. Voelde ongemakkelijk maar ging goed.",
    "Coach vroeg: wat is het ergste dat kan gebeuren?\nAntwoord: eigenlijk niet zo veel.",
    "Nog steeds sterk aanwezig, maar ik herken het sneller.",
)
_FIRST_NAMES = (
    "Anna",
    "Bas",
    "Chloé",
    "Daan",
    "Emma",
    "Finn",
    "Fatima",
    "Gijs",
    "Hanna",
    "Iris",
    "Jan",
    "Julia",
    "Kees",
    "Lotte",
    "Lucas",
    "Mila",
    "Mohammed",
    "Noah",
    "Nina",
    "Olivier",
    "Priya",
    "Quinten",
    "Ruben",
    "Sara",
    "Sem",
    "Tess",
    "Thijs",
    "Yara",
    "Zoë",
    "Wei",
    "Björn",
    "Siobhán",
    "José",
    "Ayşe",
    "Kofi",
    "Lars",
    "Mei",
    "Niamh",
    "Oğuz",
    "Sven",
)
_LAST_NAMES = (
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "Kaya",
    "Yılmaz",
    "El Amrani",
    "Nguyễn",
    "O'Brien",
    "Müller",
    "Çelik",
    "Øvergaard",
    "Kowalski",
    "Singh",
    "Okafor",
    "Tanaka",
    "García",
    "Rossi",
    "Ivanova",
    "Schäfer",
)
_EMAIL_DOMAINS = ("example.com", "example.nl", "example.org", "mail.example", "work.example")
_BIOS = (
    "**Doel:** meer rust in mijn hoofd.\n\n- werkt fulltime\n- twee kinderen",
    "Ondernemer. Wil leren *delegeren*.",
    "## Over mij\n\nIk sport graag en wil beter slapen.",
    "Student, eerste baan gestart in [Utrecht](https://utrecht.example).",
    "Manager van een team van 12. Zoekt balans tussen werk en privé.",
)
_USER_NOTES = (
    "Intake gedaan.\nVoorkeur voor ochtendsessies.",
    "Betaalt per kwartaal.",
    "Wil geen e-mails over nieuwe programma's.",
    "Doorverwezen door huisarts.\nEerst 3 sessies, daarna evaluatie.",
)
_GOAL_TITLES = (
    "Run 5 km without stopping",
    "Meditate 10 minutes a day",
    "Sleep 7 hours a night",
    "Read 12 books this year",
    "Speak up in team meetings",
    "No phone after 22:00",
    "Walk at lunch",
    "Journal three times a week",
    "Ask for feedback monthly",
    "Say no without apologising",
    "Drink less coffee",
    "Finish the online course",
    "Save for a sabbatical",
    "Call my parents weekly",
    "Take real breaks at work",
    "Cook at home four nights",
)
_GOAL_DESCRIPTIONS = (
    "Start small and build up week by week.",
    "Agreed with my coach in session 2.\nReview progress every Friday.",
    "This matters because I want more energy for my family.",
    "Track it in the app; celebrate each milestone.",
)
_PHONE_FORMATS: tuple[Callable[[random.Random], str], ...] = (
    lambda rng: f"+31 6 {rng.randrange(10_000_000, 100_000_000)}",
    lambda rng: f"06-{rng.randrange(10_000_000, 100_000_000)}",
    lambda rng: f"+32 4{rng.randrange(10, 100)} {rng.randrange(100_000, 1_000_000)}",
    lambda rng: f"(415) 555-{rng.randrange(1000, 10_000)}",
)
_REMINDER_WINDOW = 30 * _DAY


def _people() -> list[tuple[str, str, str]]:
    """(first, last, email local part) for every name combination; slugging happens once, not per record."""
    return [
        (first, last, f"{_slug(first).replace('-', '')}.{_slug(last).replace('-', '')}")
        for first in _FIRST_NAMES
        for last in _LAST_NAMES
    ]


# --------------------------------------------------------------------------------------------------------------------
# Record generation: one generator per table
# --------------------------------------------------------------------------------------------------------------------


def _program_records(rng: random.Random, count: int, parents: _Parents) -> Iterator[SeedRecord]:
    f, table_id = PROGRAM_FIELDS, DEMO_TABLE_IDS["programs"]
    statuses = _weighted(PROGRAM_STATUS, (2, 7, 1))
    topics = [name for _, name, _ in PROGRAM_TOPICS]
    for index in range(count):
        record_id = _airtable_id(rng, "rec")
        created = _ascending_created(rng, index, count)
        base_name = _PROGRAM_NAMES[index % len(_PROGRAM_NAMES)]
        edition = index // len(_PROGRAM_NAMES)
        name = base_name if edition == 0 else f"{base_name} ({edition + 1})"
        slug = _slug(name)
        weeks = 0 if rng.random() < 0.1 else rng.choice((4, 6, 8, 12))
        cells: dict[str, Any] = {
            f["name"]: name,
            f["slug"]: slug,
            f["description"]: f"## {name}\n\n{rng.choice(_PROGRAM_BLURBS)}\n\n- **Duur:** "
            + ("in je eigen tempo" if weeks == 0 else f"{weeks} weken"),
            f["status"]: rng.choice(statuses),
            f["topics"]: rng.sample(topics, rng.randint(1, 2)),
            f["price"]: rng.choice((0, 49, 99, 149, 249, 499)),
            f["duration_weeks"]: weeks,
        }
        if rng.random() < 0.8:
            cells[f["start_date"]] = _iso_date(created + rng.randrange(7, 90) * _DAY)
        if rng.random() < 0.15:
            cells[f["is_featured"]] = True
        if rng.random() < 0.75:
            size = rng.randint(80_000, 900_000)
            cells[f["cover_image"]] = [_image_attachment(rng, f"{slug}-cover.png", 1600, 900, size)]
        if rng.random() < 0.9:
            cells[f["owner"]] = _collaborator(rng, _COACHES)
        if rng.random() < 0.6:
            cells[f["landing_page"]] = f"https://coaching.example/programs/{slug}"
        parents.add(record_id, created, name)
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _method_records(rng: random.Random, count: int, programs: _Parents) -> Iterator[SeedRecord]:
    f, table_id = METHOD_FIELDS, DEMO_TABLE_IDS["methods"]
    methods_per_program: dict[int, int] = {}
    for _ in range(count):
        record_id = _airtable_id(rng, "rec")
        program = programs.pick(rng)
        created = _created_after(rng, programs.created[program])
        position = methods_per_program.get(program, 0) + 1
        methods_per_program[program] = position
        name, kind = rng.choice(_METHODS)
        cells: dict[str, Any] = {
            f["name"]: name,
            f["program"]: [programs.ids[program]],
            f["kind"]: kind,
            f["session_length"]: rng.choice((5, 10, 15, 20, 30, 45, 60)) * 60,
            f["sort_order"]: position,
        }
        if rng.random() < 0.85:
            cells[f["instructions"]] = rng.choice(_METHOD_INSTRUCTIONS)
        if rng.random() < 0.9:
            cells[f["difficulty"]] = rng.randint(1, 3)
        if rng.random() < 0.4:
            cells[f["video_url"]] = f"https://video.coaching.example/m/{record_id[3:].lower()}"
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _overtuiging_records(rng: random.Random, count: int, parents: _Parents) -> Iterator[SeedRecord]:
    f, table_id = OVERTUIGING_FIELDS, DEMO_TABLE_IDS["overtuigingen"]
    categories = [name for _, name, _ in OVERTUIGING_CATEGORIES]
    for index in range(count):
        record_id = _airtable_id(rng, "rec")
        created = _ascending_created(rng, index, count)
        template = rng.choice(_OVERTUIGING_TEMPLATES)
        action_object, verb = rng.choice(_OVERTUIGING_ACTIONS)
        titel = template.format(o=action_object, v=verb)
        cells: dict[str, Any] = {f["titel"]: titel, f["categorie"]: rng.choice(categories)}
        if rng.random() < 0.7:
            cells[f["toelichting"]] = rng.choice(_OVERTUIGING_TOELICHTING)
        if template in _HELPFUL_TEMPLATES:
            cells[f["helpend"]] = True
        if rng.random() < 0.2:
            cells[f["bron"]] = f"https://kennisbank.coaching.example/overtuigingen/{index + 1}"
        parents.add(record_id, created, titel)
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _user_records(rng: random.Random, count: int, parents: _Parents) -> Iterator[SeedRecord]:
    f, table_id = USER_FIELDS, DEMO_TABLE_IDS["users"]
    people = _people()
    roles = _weighted(USER_ROLES, (45, 4, 1))
    for index in range(count):
        record_id = _airtable_id(rng, "rec")
        created = _ascending_created(rng, index, count)
        first, last, local_part = rng.choice(people)
        cells: dict[str, Any] = {
            f["name"]: f"{first} {last}",
            f["email"]: f"{local_part}.{_base36(index)}@{rng.choice(_EMAIL_DOMAINS)}",
            f["first_name"]: first,
            f["last_name"]: last,
            f["role"]: rng.choice(roles),
            f["signup_date"]: _iso_date(created),
        }
        _add_optional_user_cells(rng, cells, created, local_part)
        parents.add(record_id, created)
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _add_optional_user_cells(rng: random.Random, cells: dict[str, Any], created: float, local_part: str) -> None:
    f = USER_FIELDS
    if rng.random() < 0.85:
        cells[f["active"]] = True
    if rng.random() < 0.6:
        cells[f["phone"]] = rng.choice(_PHONE_FORMATS)(rng)
    if rng.random() < 0.8:
        cells[f["last_login"]] = _iso_datetime(created + (REFERENCE_TIME - created) * (1.0 - rng.random() ** 4))
    if rng.random() < 0.65:
        side = rng.choice((256, 400, 512, 1024))
        cells[f["avatar"]] = [_image_attachment(rng, f"{local_part}.jpg", side, side, rng.randint(15_000, 400_000))]
    if rng.random() < 0.7:
        cells[f["coach"]] = _collaborator(rng, _COACHES)
    if rng.random() < 0.15:
        cells[f["support_team"]] = _collaborators(rng, 2)
    if rng.random() < 0.5:
        card = {"text": f"CM{rng.randrange(10**9, 10**10)}"}
        if rng.random() < 0.9:
            card["type"] = "code128"
        cells[f["member_card"]] = card
    if rng.random() < 0.25:
        cells[f["bio"]] = rng.choice(_BIOS)
    if rng.random() < 0.2:
        cells[f["notes"]] = rng.choice(_USER_NOTES)
    if rng.random() < 0.08:
        cells[f["website"]] = f"https://{local_part.replace('.', '')}.example"


def _persoonlijke_overtuiging_records(
    rng: random.Random, count: int, users: _Parents, overtuigingen: _Parents
) -> Iterator[SeedRecord]:
    f, table_id = PERSOONLIJKE_OVERTUIGING_FIELDS, DEMO_TABLE_IDS["persoonlijke_overtuigingen"]
    statuses = _weighted(POV_STATUS, (3, 4, 2, 1))
    for _ in range(count):
        record_id = _airtable_id(rng, "rec")
        user, belief = users.pick(rng), overtuigingen.pick(rng)
        created = _created_after(rng, max(users.created[user], overtuigingen.created[belief]))
        strength = round(rng.uniform(0.3, 1.0), 2)
        cells: dict[str, Any] = {
            f["omschrijving"]: overtuigingen.labels[belief] + rng.choice(_POV_SUFFIXES),
            f["gebruiker"]: [users.ids[user]],
            f["overtuiging"]: [overtuigingen.ids[belief]],
            f["sterkte"]: strength,
            f["status"]: rng.choice(statuses),
            f["vastgelegd_op"]: _iso_date(created),
        }
        if rng.random() < 0.45:
            # at least 5 %: the formula "verschil" tests the cell for truthiness, and 0 would read as empty
            cells[f["sterkte_na"]] = max(0.05, round(strength - rng.uniform(0.0, 0.6), 2))
        if rng.random() < 0.3:
            cells[f["reflectie"]] = rng.choice(_POV_REFLECTIES)
        if rng.random() < 0.2:
            cells[f["begeleiders"]] = _collaborators(rng, 2)
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _goal_records(rng: random.Random, count: int, users: _Parents, programs: _Parents) -> Iterator[SeedRecord]:
    f, table_id = GOAL_FIELDS, DEMO_TABLE_IDS["personal_goals"]
    statuses = _weighted(GOAL_STATUS, (4, 9, 5, 2))
    focus_areas = [name for _, name, _ in GOAL_FOCUS_AREAS]
    for _ in range(count):
        record_id = _airtable_id(rng, "rec")
        user = users.pick(rng)
        earliest = users.created[user]
        cells: dict[str, Any] = {f["title"]: rng.choice(_GOAL_TITLES), f["user"]: [users.ids[user]]}
        if rng.random() < 0.7:
            program = programs.pick(rng)
            earliest = max(earliest, programs.created[program])
            cells[f["program"]] = [programs.ids[program]]
        created = _created_after(rng, earliest)
        status = rng.choice(statuses)
        cells[f["status"]] = status
        _add_goal_progress_cells(rng, cells, status)
        _add_optional_goal_cells(rng, cells, created, focus_areas)
        yield SeedRecord(table_id, record_id, created, _modified_after(rng, created), cells)


def _add_goal_progress_cells(rng: random.Random, cells: dict[str, Any], status: str) -> None:
    """Target and practice minutes; a target of 0 (no target yet) makes the ``progress`` formula an error value."""
    f = GOAL_FIELDS
    target = 0 if rng.random() < 0.05 else rng.choice((300, 600, 900, 1200, 1800, 3000))
    if status == "Not started" or (target == 0 and rng.random() < 0.3):
        practiced = 0
    elif status == "Completed" and target:
        practiced = target + rng.randrange(0, target // 2)
    else:
        practiced = rng.randrange(1, (target or 600) + 1)
    cells[f["target_minutes"]] = target
    cells[f["minutes_practiced"]] = practiced
    if practiced:
        cells[f["time_spent"]] = practiced * 60 + rng.randrange(60)
    if status == "Completed":
        cells[f["completed"]] = True


def _add_optional_goal_cells(rng: random.Random, cells: dict[str, Any], created: float, focus: list[str]) -> None:
    f = GOAL_FIELDS
    if rng.random() < 0.5:
        cells[f["description"]] = rng.choice(_GOAL_DESCRIPTIONS)
    if rng.random() < 0.8:
        cells[f["priority"]] = rng.randint(1, 5)
    if rng.random() < 0.85:
        cells[f["focus_areas"]] = rng.sample(focus, rng.randint(1, 3))
    if rng.random() < 0.3:
        cells[f["budget"]] = round(rng.uniform(10, 500), 2)
    if rng.random() < 0.6:
        cells[f["deadline"]] = _iso_date(created + rng.randrange(14, 366) * _DAY)
    if rng.random() < 0.25:
        cells[f["reminder_at"]] = _iso_datetime(_moment_between(rng, created, created + _REMINDER_WINDOW))
    if rng.random() < 0.04:
        width, height = rng.choice(((1170, 2532), (1920, 1080), (800, 600)))
        filename = f"evidence-{rng.randrange(1, 100)}.png"
        cells[f["evidence"]] = [_image_attachment(rng, filename, width, height, rng.randint(50_000, 2_000_000))]


def demo_records(total: int, seed: int = 42) -> Iterator[SeedRecord]:
    """``total`` demo records, parents before children, identical for the same ``(total, seed)``.

    Streams: only the ids and creation times of parent tables (users, programs, overtuigingen) are kept,
    for the children's links. Each table draws from its own seeded generator.
    """
    counts = demo_table_counts(total)

    def rng_for(table: str) -> random.Random:
        return random.Random(f"airtable_pg.demo/{seed}/{table}")

    programs, overtuigingen, users = _Parents(), _Parents(), _Parents()
    yield from _program_records(rng_for("programs"), counts["programs"], programs)
    yield from _method_records(rng_for("methods"), counts["methods"], programs)
    yield from _overtuiging_records(rng_for("overtuigingen"), counts["overtuigingen"], overtuigingen)
    yield from _user_records(rng_for("users"), counts["users"], users)
    yield from _persoonlijke_overtuiging_records(
        rng_for("persoonlijke_overtuigingen"), counts["persoonlijke_overtuigingen"], users, overtuigingen
    )
    yield from _goal_records(rng_for("personal_goals"), counts["personal_goals"], users, programs)


# --------------------------------------------------------------------------------------------------------------------
# The hostile base: names that break naive quoting, URL building and column slugging
# --------------------------------------------------------------------------------------------------------------------

HOSTILE_TABLE_IDS: dict[str, str] = {
    "students": "tblRobertDropTbl1",
    "beliefs": "tblUeberzeugung01",
}
# 255 characters, multi-byte: a 63-byte Postgres identifier cut must not split a character.
LONG_NAME = ("Überlange Feldbezeichnung mit Umlauten – " * 7)[:254] + "!"

HOSTILE_STUDENT_FIELDS: dict[str, str] = {
    "Name \"quoted\"; 'single'": "fldHaName00000001",
    "Full Name": "fldHaFullName0001",
    "full_name": "fldHaFullName0002",
    "Full-Name": "fldHaFullName0003",
    "Full  Name!": "fldHaFullName0004",
    "id": "fldHaId0000000001",
    "fields": "fldHaFields000001",
    "deleted_at": "fldHaDeletedAt001",
    "airtable_id": "fldHaAirtableId01",
    "Robert'); DROP TABLE students;--": "fldHaRobert000001",
    LONG_NAME: "fldHaLongName0001",
    "  42 leading digits and spaces": "fldHaLeadDigits01",
    "select": "fldHaSelect000001",
    "user": "fldHaUser00000001",
    "a/b?c=d#e%20&f\\g": "fldHaUrlChars0001",
    "🙂": "fldHaEmoji0000001",
    "Überzeugung ✓ 信念": "fldHaLinkBelief01",
}
HOSTILE_BELIEF_FIELDS: dict[str, str] = {
    "信念": "fldHbName00000001",
    "Score": "fldHbScore0000001",
    "score (0–10)": "fldHbScore0000002",
    "Robert'); DROP TABLE students;--": "fldHbStudents0001",
    "synced_at": "fldHbSyncedAt0001",
}
HOSTILE_CHOICES: tuple[Choice, ...] = (
    ("selHostileQuote01", 'it\'s "quoted"', "blueLight2"),
    ("selHostileSemico2", "semi;colon", "redLight2"),
    ("selHostileUnicod3", "Überzeugung ✓ 信念", "greenLight2"),
    ("selHostileRocket4", "🚀 launch", "purpleLight2"),
    ("selHostilePadded5", " padded ", "grayLight2"),
)
_HOSTILE_TEXTS = (  # single-line: they also fill singleLineText cells
    "Robert'); DROP TABLE students;--",
    'She said "hi"; then left',
    "O'Brien",
    "tab\tseparated",
    "back\\slash and {braces} and $1 and %s",
    "NULL",
    "null",
    "שלום עולם",
    "e\u0301 (combining accent)",
    "zero\u200bwidth",
    "👩‍👩‍👧 family emoji",
    "x" * 1000,
)


def hostile_schema() -> list[dict[str, Any]]:
    """Two tables whose table and field names are hostile, linked both ways."""
    students = HOSTILE_STUDENT_FIELDS
    beliefs = HOSTILE_BELIEF_FIELDS
    link_name = "Überzeugung ✓ 信念"
    inverse_name = "Robert'); DROP TABLE students;--"
    student_fields = [
        _field(field_id, name, _hostile_student_type(name), _hostile_student_options(name))
        for name, field_id in students.items()
        if name != link_name
    ]
    student_fields.append(
        _link(students[link_name], link_name, HOSTILE_TABLE_IDS["beliefs"], beliefs[inverse_name], single=False)
    )
    belief_fields = [
        _field(beliefs["信念"], "信念", "singleLineText"),
        _field(beliefs["Score"], "Score", "number", {"precision": 1}),
        _field(beliefs["score (0–10)"], "score (0–10)", "number", {"precision": 0}),
        _link(beliefs[inverse_name], inverse_name, HOSTILE_TABLE_IDS["students"], students[link_name], single=False),
        _field(beliefs["synced_at"], "synced_at", "dateTime", _datetime_options("utc", "iso", "24hour")),
    ]
    return [
        _table(
            HOSTILE_TABLE_IDS["students"],
            "Robert'); DROP TABLE students;--",
            student_fields,
            [("viwHostileGrid001", "Grid view; 'quoted'", "grid")],
            'A table named "Robert\'); DROP …"',
        ),
        _table(
            HOSTILE_TABLE_IDS["beliefs"],
            "Überzeugung ✓ 信念",
            belief_fields,
            [("viwHostileGrid002", "Grid view", "grid")],
            "Unicode everywhere",
        ),
    ]


def _hostile_student_type(name: str) -> str:
    types = {
        "fields": "multilineText",
        "deleted_at": "date",
        LONG_NAME: "number",
        "  42 leading digits and spaces": "number",
        "select": "singleSelect",
        "user": "checkbox",
    }
    return types.get(name, "singleLineText")


def _hostile_student_options(name: str) -> dict[str, Any] | None:
    options: dict[str, dict[str, Any]] = {
        "deleted_at": _date_options("iso"),
        LONG_NAME: {"precision": 2},
        "  42 leading digits and spaces": {"precision": 0},
        "select": _choices(HOSTILE_CHOICES),
        "user": {"icon": "check", "color": "greenBright"},
    }
    return options.get(name)


def hostile_records(seed: int = 7) -> Iterator[SeedRecord]:
    """8 beliefs then 12 students (students carry the forward link), deterministic for ``seed``."""
    rng = random.Random(f"airtable_pg.hostile/{seed}")
    beliefs = _Parents()
    for index in range(8):
        yield _hostile_belief(rng, index, beliefs)
    for index in range(12):
        yield _hostile_student(rng, index, beliefs)


def _hostile_belief(rng: random.Random, index: int, beliefs: _Parents) -> SeedRecord:
    f = HOSTILE_BELIEF_FIELDS
    record_id = _airtable_id(rng, "rec")
    created = _ascending_created(rng, index, 8)
    cells: dict[str, Any] = {
        f["信念"]: _HOSTILE_TEXTS[index % len(_HOSTILE_TEXTS)],
        f["Score"]: round(rng.uniform(0, 10), 1),
    }
    if index % 3:
        cells[f["score (0–10)"]] = rng.randint(0, 10)
    if index % 2:
        cells[f["synced_at"]] = _iso_datetime(_moment_between(rng, created, REFERENCE_TIME))
    beliefs.add(record_id, created)
    return SeedRecord(HOSTILE_TABLE_IDS["beliefs"], record_id, created, _modified_after(rng, created), cells)


def _hostile_student(rng: random.Random, index: int, beliefs: _Parents) -> SeedRecord:
    f = HOSTILE_STUDENT_FIELDS
    record_id = _airtable_id(rng, "rec")
    linked = sorted({beliefs.pick(rng) for _ in range(rng.randint(1, 3))})
    created = _created_after(rng, max(beliefs.created[i] for i in linked))
    text = _HOSTILE_TEXTS[(index + 3) % len(_HOSTILE_TEXTS)]
    cells: dict[str, Any] = {
        "Name \"quoted\"; 'single'": text,
        "Full Name": f"Full Name {index}",
        "full_name": f"full_name {index}",
        "Full-Name": f"Full-Name {index}",
        "id": f"not-the-record-id-{index}",
        "Robert'); DROP TABLE students;--": "'; DELETE FROM airtable_sync.outbox; --",
        LONG_NAME: round(rng.uniform(-1000, 1000), 2),
        "select": rng.choice(HOSTILE_CHOICES)[1],
        "a/b?c=d#e%20&f\\g": "?a=1&b=%20#frag",
        "🙂": rng.choice(("🙂", "😐", "🙁")),
        "Überzeugung ✓ 信念": [beliefs.ids[i] for i in linked],
    }
    if index % 2:
        cells["Full  Name!"] = f"Full  Name! {index}"
        cells["fields"] = '{"fields": {"id": "rec00000000000000"}}\nline two; \'quoted\'\n\ttabbed'
        cells["user"] = True
    if index % 3 == 0:
        cells["deleted_at"] = _iso_date(created)
        cells["airtable_id"] = "rec" + "0" * 14
        cells["  42 leading digits and spaces"] = 42 + index
    by_id = {f[name]: value for name, value in cells.items()}
    return SeedRecord(HOSTILE_TABLE_IDS["students"], record_id, created, _modified_after(rng, created), by_id)

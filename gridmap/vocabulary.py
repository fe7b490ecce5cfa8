"""The vocabulary (术语): every closed set of names gridmap uses, written once, with labels.

Division levels and kinds, 城乡分类代码, generation kinds, the seven case stages, tiers, case
types and actions, worker roles and duties, coordinate systems, basemaps and languages are
``StrEnum`` s. A member *is* its identifier (``Stage.REPORTED == "reported"``), which is what the
database stores, the API sends and the CLI accepts; ``.zh`` and ``.en`` are the labels people
read. The schema's CHECK constraints (:meth:`Term.sql_in`), the API's pydantic schemas, the CLI's
choices and the rules all read them from here, so adding a member is a one-line change.

>>> Stage.REPORTED.zh
'受理'
>>> Tier("village").next()
<Tier.TOWNSHIP: 'township'>
>>> Level.GRID.code_length
15
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from gridmap.errors import InvalidInputError


class Term(StrEnum):
    """A ``StrEnum`` whose members carry a Chinese (``zh``) and an English (``en``) label."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str = "", en: str = "") -> Self:
        """Make a member from ``value, zh, en`` (labels default to the value)."""
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh or value
        member.en = en or value
        return member

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every identifier, in declaration order."""
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls, value: object, *, what: str | None = None) -> Self:
        """The member named ``value``, else an :class:`InvalidInputError` listing the choices.

        >>> Duty.parse("primary")
        <Duty.PRIMARY: 'primary'>
        >>> Duty.parse("boss")
        Traceback (most recent call last):
        ...
        gridmap.errors.InvalidInputError: unknown duty 'boss'; valid choices: primary, supporting
        """
        try:
            return cls(str(value))
        except ValueError:
            name = what or _snake(cls.__name__)
            raise InvalidInputError(
                f"unknown {name} {value!r}; valid choices: {', '.join(cls.values())}",
                value=str(value),
                valid=list(cls.values()),
            ) from None

    @classmethod
    def sql_in(cls, column: str) -> str:
        """SQL text ``column IN ('a', 'b', …)`` for a CHECK constraint or a filter."""
        quoted = ", ".join(f"'{value}'" for value in cls.values())
        return f"{column} IN ({quoted})"

    @classmethod
    def labels(cls, lang: str = "zh") -> dict[str, str]:
        """Identifier → label in ``lang`` (``zh`` or ``en``), for legends and export aliases."""
        language = Language.parse(lang)
        return {m.value: (m.zh if language is Language.ZH else m.en) for m in cls}

    def label(self, lang: str = "zh") -> str:
        """Return the member's label in ``lang``."""
        return self.zh if Language.parse(lang) is Language.ZH else self.en


def _snake(name: str) -> str:
    """``CaseType`` → ``case type``: the class name as the error messages say it."""
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


class Language(Term):
    """Languages of labels, legends and export aliases."""

    ZH = "zh", "中文", "Chinese"
    EN = "en", "英文", "English"


# -- boundaries ------------------------------------------------------------------------------


class Level(Term):
    """Levels of the division hierarchy, top down; a code's length says its level."""

    COUNTY = "county", "县级", "County"
    TOWNSHIP = "township", "乡级", "Township"
    VILLAGE = "village", "村级", "Village"
    GRID = "grid", "网格", "Grid"

    @property
    def code_length(self) -> int:
        """Digits in a code of this level: 6, 9, 12 or 15."""
        return 6 + 3 * list(Level).index(self)

    @property
    def parent(self) -> Level | None:
        """The level above (None for the county)."""
        position = list(Level).index(self)
        return list(Level)[position - 1] if position else None


class UnitKind(Term):
    """What a unit is within its level (the code block decides it for townships and villages)."""

    COUNTY = "county", "县/区", "County"
    SUBDISTRICT = "subdistrict", "街道", "Subdistrict"
    TOWN = "town", "镇", "Town"
    TOWNSHIP = "township", "乡", "Township"
    COMMUNITY = "community", "社区", "Community"
    VILLAGE = "village", "行政村", "Village"
    GRID = "grid", "网格", "Grid"


class UrbanRural(Term):
    """城乡分类代码 (the statistical urban–rural code): picks urban or rural grid rules."""

    MAIN_URBAN = "111", "主城区", "Main urban area"
    URBAN_FRINGE = "112", "城乡结合区", "Urban–rural fringe"
    TOWN_CENTRE = "121", "镇中心区", "Town centre"
    TOWN_FRINGE = "122", "镇乡结合区", "Town–rural fringe"
    SPECIAL = "123", "特殊区域", "Special area"
    TOWNSHIP_CENTRE = "210", "乡中心区", "Township centre"
    VILLAGE = "220", "村庄", "Village"

    @property
    def is_urban(self) -> bool:
        """Codes 1xx are urban (城镇), 2xx rural (乡村)."""
        return self.value.startswith("1")


class GenerationKind(Term):
    """What made a generation of the boundaries."""

    IMPORT = "import", "导入", "Import"
    GRIDS = "grids", "网格生成", "Grid generation"
    PLAN = "plan", "区划调整", "Boundary plan"
    ROLLBACK = "rollback", "回滚", "Rollback"


# -- incidents -------------------------------------------------------------------------------


class Stage(Term):
    """The seven stages of a case (数字城管 closed loop), in order; the first five are open."""

    REPORTED = "reported", "受理", "Reported"
    ACCEPTED = "accepted", "立案", "Accepted"
    DISPATCHED = "dispatched", "派遣", "Dispatched"
    HANDLING = "handling", "处置", "Handling"
    RESOLVED = "resolved", "反馈", "Resolved"
    CLOSED = "closed", "核查结案", "Closed"
    RATED = "rated", "评价", "Rated"

    @property
    def is_open(self) -> bool:
        """True until the case is verified and closed."""
        return self in OPEN_STAGES


OPEN_STAGES: tuple[Stage, ...] = tuple(Stage)[:5]
FINISHED_STAGES: tuple[Stage, ...] = tuple(Stage)[5:]


class Tier(Term):
    """Who must act on a case (分级响应), bottom up; escalation (吹哨报到) moves one up."""

    GRID = "grid", "网格", "Grid"
    VILLAGE = "village", "村(社区)", "Village/community"
    TOWNSHIP = "township", "乡镇(街道)", "Township/subdistrict"
    COUNTY = "county", "县级部门", "County department"

    def next(self) -> Tier | None:
        """The tier above, or None at the county tier."""
        tiers = list(Tier)
        position = tiers.index(self)
        return tiers[position + 1] if position + 1 < len(tiers) else None


class CaseType(Term):
    """How a case is handled: at once, by a promised date, or across departments."""

    IMMEDIATE = "immediate", "即办件", "Immediate"
    PROMISED = "promised", "承诺件", "Promised"
    COORDINATED = "coordinated", "协调件", "Coordinated"


class Action(Term):
    """What someone does to a case; ``report`` only opens the audit trail."""

    REPORT = "report", "上报", "Report"
    ACCEPT = "accept", "立案", "Accept"
    REJECT = "reject", "不予立案", "Reject"
    DISPATCH = "dispatch", "派遣", "Dispatch"
    START = "start", "开始处置", "Start"
    RESOLVE = "resolve", "处置反馈", "Resolve"
    CLOSE = "close", "核查结案", "Close"
    RATE = "rate", "评价", "Rate"
    RETURN = "return", "退回", "Return"
    ESCALATE = "escalate", "上报升级", "Escalate"
    REOPEN = "reopen", "重新办理", "Reopen"


# -- workers ---------------------------------------------------------------------------------


class WorkerRole(Term):
    """Kinds of people on a county's roster."""

    FULLTIME = "fulltime", "专职网格员", "full-time"
    PARTTIME = "parttime", "兼职网格员", "part-time"
    CADRE = "cadre", "包联干部", "cadre"


class Duty(Term):
    """A worker's duty in a grid: one primary worker (gets its cases), any number supporting."""

    PRIMARY = "primary", "主责", "primary"
    SUPPORTING = "supporting", "协助", "supporting"


# -- coordinates and outputs -----------------------------------------------------------------


class InputCRS(Term):
    """Coordinate systems a point or a file may arrive in (converted to WGS84 on input)."""

    WGS84 = "wgs84", "WGS84 (GPS)", "WGS84 (GPS)"
    CGCS2000 = "cgcs2000", "2000国家大地坐标系", "CGCS2000"
    GCJ02 = "gcj02", "国测局坐标 (高德/腾讯)", "GCJ-02 (Amap, Tencent)"
    BD09 = "bd09", "百度坐标", "BD-09 (Baidu)"

    @property
    def is_offset(self) -> bool:
        """True for the obfuscated Chinese systems, shifted only inside mainland China."""
        return self in (InputCRS.GCJ02, InputCRS.BD09)


class ExportCRS(Term):
    """Coordinate systems a GIS export may be written in."""

    CGCS2000 = "EPSG:4490", "2000国家大地坐标系 经纬度", "CGCS2000 lon/lat"
    WGS84 = "EPSG:4326", "WGS84 经纬度", "WGS84 lon/lat"
    GAUSS_KRUGER = "gk", "2000国家大地坐标系 高斯-克吕格3度带", "CGCS2000 3-degree Gauss–Krüger"


class Basemap(Term):
    """Optional basemaps under a map; none by default (maps draw offline without one)."""

    TIANDITU_VEC = "tianditu-vec", "天地图 矢量", "Tianditu vector"
    TIANDITU_IMG = "tianditu-img", "天地图 影像", "Tianditu imagery"
    OSM = "osm", "OpenStreetMap", "OpenStreetMap"
    CUSTOM = "custom", "自建瓦片", "Self-hosted tiles"


class TileLayer(Term):
    """Layers served as vector tiles."""

    GRIDS = "grids", "网格", "Grids"
    HOUSEHOLDS = "households", "住户", "Households"


# -- accounts and access -----------------------------------------------------------------------


class Role(Term):
    """What an account is (角色); ``gridmap.auth.access`` says what each may do and see."""

    COUNTY_ADMIN = "county_admin", "县级管理员", "County administrator"
    TOWNSHIP_STAFF = "township_staff", "乡镇(街道)工作人员", "Township staff"
    VILLAGE_STAFF = "village_staff", "村(社区)工作人员", "Village staff"
    GRID_WORKER = "grid_worker", "网格员", "Grid worker"
    PLANNER = "planner", "规划人员", "Planner"
    VIEWER = "viewer", "只读用户", "Viewer"
    CLIENT = "client", "接口客户端", "API client"


class Sensitivity(Term):
    """How personal a field is (数据分级): who may see it is ``gridmap.auth.access.SEES``."""

    PUBLIC = "public", "公开", "Public"
    INTERNAL = "internal", "内部", "Internal"
    SENSITIVE = "sensitive", "敏感", "Sensitive"


class Permission(Term):
    """Things an account may do (权限); roles hold sets of them (``gridmap.auth.access.GRANTS``)."""

    READ_INCIDENTS = "read_incidents", "查看事件", "Read incidents"
    REPORT = "report", "上报事件", "Report incidents"
    ACCEPT = "accept", "立案", "Accept or reject cases"
    DISPATCH = "dispatch", "派遣", "Dispatch cases"
    HANDLE = "handle", "处置", "Handle, resolve or return cases"
    VERIFY = "verify", "核查结案", "Verify and close cases"
    RATE = "rate", "评价", "Rate cases"
    ESCALATE = "escalate", "升级", "Escalate cases"
    REOPEN = "reopen", "重办", "Reopen cases"
    READ_WORKERS = "read_workers", "查看网格员", "Read workers"
    EDIT_WORKERS = "edit_workers", "管理网格员", "Edit workers and their grids"
    RECORD_POSITIONS = "record_positions", "上传轨迹", "Record GPS positions"
    EDIT_CATEGORIES = "edit_categories", "配置事件分类", "Edit the category catalogue"
    READ_QA = "read_qa", "质量检查", "Read boundary QA"
    EXPORT = "export", "导出", "Run exports"
    READ_AUDIT = "read_audit", "查看审计日志", "Read the audit log"
    DRAFT_PLANS = "draft_plans", "编制调整方案", "Draft boundary plans"
    APPLY_PLANS = "apply_plans", "实施调整方案", "Apply boundary plans"
    EDIT_SITES = "edit_sites", "管理安置点", "Add and edit relocation sites"
    PLAN_RELOCATION = "plan_relocation", "编制安置方案", "Make relocation plans"
    RELOCATE = "relocate", "实施搬迁", "Carry out relocation and register households"


class AuditAction(Term):
    """What an audit row records (审计类别)."""

    CREATE = "create", "新增", "Create"
    UPDATE = "update", "修改", "Update"
    READ = "read", "查阅敏感数据", "Sensitive read"
    LOGIN = "login", "登录", "Login"
    LOGIN_FAILED = "login_failed", "登录失败", "Failed login"
    LOGOUT = "logout", "退出", "Logout"
    DISABLE = "disable", "停用", "Disable"


class SiteKind(Term):
    """What a relocation site is (安置点类型)."""

    RESETTLEMENT = "resettlement", "集中安置点", "Resettlement site"
    SHELTER = "shelter", "应急避难场所", "Emergency shelter"


class Facility(Term):
    """What a site offers (配套设施)."""

    SCHOOL = "school", "学校", "School"
    KINDERGARTEN = "kindergarten", "幼儿园", "Kindergarten"
    CLINIC = "clinic", "卫生室", "Clinic"
    SERVICE_CENTRE = "service_centre", "党群服务中心", "Party and public service centre"
    WATER = "water", "供水", "Water supply"
    POWER = "power", "供电", "Power supply"
    TOILETS = "toilets", "厕所", "Toilets"
    ACCESSIBLE = "accessible", "无障碍设施", "Accessible facilities"


class HouseholdFlag(Term):
    """Why a household comes first when places are short (重点人群); sensitive data."""

    ELDERLY_LEFT_BEHIND = "elderly_left_behind", "留守老人", "Elderly left behind"
    DISABLED = "disabled", "残疾", "Disabled"
    CHILDREN = "children", "儿童", "Children"
    MATERNAL = "maternal", "孕产妇", "Pregnant or postpartum"
    DIBAO = "dibao", "低保", "Minimum living allowance"


class Unassigned(Term):
    """Why a relocation plan left a household without a site (未安置原因)."""

    OVER_CAPACITY = "over_capacity", "安置点容量不足", "Over capacity"
    BEYOND_MAX_DISTANCE = "beyond_max_distance", "超出最大距离", "Beyond the maximum distance"
    NO_SITE_REACHABLE = "no_site_reachable", "无可达安置点", "No site reachable"


class DistanceKind(Term):
    """How a relocation plan measures travel (距离口径)."""

    STRAIGHT = "straight", "直线距离", "Straight line"
    ROAD = "road", "道路距离", "Road distance"


class KeepTogether(Term):
    """Which households a relocation plan keeps together at one site (整建制安置)."""

    GRID = "grid", "按网格", "By grid"
    VILLAGE = "village", "按村（社区）", "By village or community"

"""The demo catalogue of 衡远重工: four product lines, their machine models, options, spare parts and services.

Everything here is fixed data (no randomness): the same catalogue on every run and every seed.
Products are created through the catalogue services (``actor=None``, the system) when their
code is not in the database yet, so a second run creates nothing. Prices are list prices in CNY.

The order-to-cash demo (``steelyard/orders/demo.py``) sells these products; it reads the
``family`` and typical order quantities of each machine from :data:`MACHINES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from steelyard.core.demo import DemoContext, seeder

# code, name, English name, order, description, settings
LINES: list[tuple[str, str, str, int, str, dict]] = [
    (
        "CRANE",
        "起重机",
        "Cranes",
        10,
        "汽车起重机、全地面起重机、履带起重机与塔式起重机。",
        {"plant": "XZ", "warranty_months": 12, "installation": True, "lead_time_days": [45, 90]},
    ),
    (
        "ENGINE",
        "发动机",
        "Engines",
        20,
        "非道路柴油机、重型柴油机与燃气发电机组，供主机厂与能源客户。",
        {"plant": "WF", "warranty_months": 18, "installation": False, "lead_time_days": [25, 50]},
    ),
    (
        "RAIL",
        "轨道交通",
        "Rail transit",
        30,
        "铁路养护机械与工程作业车：捣固车、接触网作业车、重型轨道车。",
        {"plant": "ZZ", "warranty_months": 24, "installation": True, "lead_time_days": [150, 300]},
    ),
    (
        "MARINE",
        "船舶",
        "Marine",
        40,
        "船用低速与中速柴油机、船用发电机组与推进系统。",
        {"plant": "WF", "warranty_months": 24, "installation": True, "lead_time_days": [120, 270]},
    ),
]


@dataclass(frozen=True)
class MachineSpec:
    line: str
    code: str
    name: str
    name_en: str
    price: int
    family: str
    qty: tuple[int, int]  # typical quantity on one order
    unit: str = "台"


MACHINES: list[MachineSpec] = [
    MachineSpec(
        "CRANE", "QY25K5", "QY25K5 汽车起重机（25吨）", "QY25K5 truck crane, 25 t", 1_180_000, "truck", (1, 3)
    ),
    MachineSpec(
        "CRANE", "QY50KA", "QY50KA 汽车起重机（50吨）", "QY50KA truck crane, 50 t", 1_850_000, "truck", (1, 3)
    ),
    MachineSpec(
        "CRANE",
        "QY100K",
        "QY100K 汽车起重机（100吨）",
        "QY100K truck crane, 100 t",
        3_960_000,
        "truck",
        (1, 2),
    ),
    MachineSpec(
        "CRANE",
        "QAY220",
        "QAY220 全地面起重机（220吨）",
        "QAY220 all-terrain crane, 220 t",
        9_800_000,
        "truck",
        (1, 1),
    ),
    MachineSpec(
        "CRANE",
        "SCC1500A",
        "SCC1500A 履带起重机（150吨）",
        "SCC1500A crawler crane, 150 t",
        6_200_000,
        "crawler",
        (1, 1),
    ),
    MachineSpec(
        "CRANE", "TC6013", "TC6013 塔式起重机（6吨）", "TC6013 tower crane, 6 t", 680_000, "tower", (1, 4)
    ),
    MachineSpec(
        "CRANE", "TC7052", "TC7052 塔式起重机（25吨）", "TC7052 tower crane, 25 t", 1_260_000, "tower", (1, 3)
    ),
    MachineSpec(
        "CRANE",
        "T7530-16",
        "T7530-16 平头塔式起重机（16吨）",
        "T7530-16 flat-top tower crane, 16 t",
        1_580_000,
        "tower",
        (1, 3),
    ),
    MachineSpec(
        "ENGINE",
        "HY6D",
        "HY6D 非道路国四柴油机（165kW）",
        "HY6D off-road diesel, 165 kW",
        56_000,
        "engine",
        (4, 20),
    ),
    MachineSpec(
        "ENGINE",
        "WP10H",
        "WP10H 柴油发动机（336马力）",
        "WP10H diesel engine, 336 hp",
        78_000,
        "engine",
        (4, 16),
    ),
    MachineSpec(
        "ENGINE",
        "WP13",
        "WP13 柴油发动机（550马力）",
        "WP13 diesel engine, 550 hp",
        118_000,
        "engine",
        (2, 12),
    ),
    MachineSpec(
        "ENGINE",
        "HY16V190",
        "HY16V190 燃气发电机组（1.5MW）",
        "HY16V190 gas generator set, 1.5 MW",
        2_650_000,
        "genset",
        (1, 3),
    ),
    MachineSpec(
        "RAIL",
        "GCY-300",
        "GCY-300 重型轨道车",
        "GCY-300 heavy rail maintenance vehicle",
        4_800_000,
        "rail",
        (1, 2),
        "辆",
    ),
    MachineSpec(
        "RAIL",
        "JW-4G",
        "JW-4G 接触网作业车",
        "JW-4G catenary maintenance vehicle",
        6_500_000,
        "rail",
        (1, 2),
        "辆",
    ),
    MachineSpec(
        "RAIL",
        "DCL-32K",
        "DCL-32K 连续式双枕捣固车",
        "DCL-32K continuous tamping machine",
        28_000_000,
        "rail",
        (1, 1),
        "辆",
    ),
    MachineSpec(
        "MARINE",
        "HY6S50",
        "HY6S50 船用低速柴油机（9,960kW）",
        "HY6S50 two-stroke marine engine",
        38_600_000,
        "marine",
        (1, 1),
    ),
    MachineSpec(
        "MARINE",
        "HY8L21",
        "HY8L21 船用中速柴油机（1,600kW）",
        "HY8L21 medium-speed marine engine",
        4_300_000,
        "marine",
        (1, 2),
    ),
    MachineSpec(
        "MARINE",
        "CCFJ400",
        "CCFJ400 船用柴油发电机组（400kW）",
        "CCFJ400 marine generator set",
        1_250_000,
        "marine_gen",
        (2, 3),
    ),
    MachineSpec(
        "MARINE",
        "CPP-3000",
        "CPP-3000 可调螺距桨推进系统",
        "CPP-3000 controllable-pitch propeller",
        5_900_000,
        "marine",
        (1, 1),
        "套",
    ),
]

# family → options: (suffix, name, English name, share of the machine's price or fixed price, unit)
OPTIONS: dict[str, list[tuple[str, str, str, float, str]]] = {
    "truck": [
        ("JIB", "副臂组件", "Fly jib", 0.05, "套"),
        ("CW", "附加配重", "Extra counterweight", 0.035, "套"),
        ("RC", "无线遥控系统", "Radio remote control", 0.012, "套"),
        ("CAM", "360°全景影像系统", "360° camera system", 0.006, "套"),
        ("COLD", "高寒低温包（-40℃）", "Arctic package (-40 °C)", 0.02, "套"),
    ],
    "crawler": [
        ("SL", "超起装置", "Superlift attachment", 0.09, "套"),
        ("WIND", "风电专用臂架", "Wind-power boom", 0.12, "套"),
        ("LJ", "塔式副臂", "Luffing jib", 0.07, "套"),
    ],
    "tower": [
        ("TIE", "附着装置（含附着杆）", "Tie-in frame", 0.04, "套"),
        ("SAFE", "塔机安全监控系统", "Safety monitoring system", 0.015, "套"),
        ("ANTI", "群塔防碰撞系统", "Anti-collision system", 0.012, "套"),
        ("MAST", "加高标准节（10节）", "Extra mast sections (10)", 0.09, "套"),
    ],
    "engine": [
        ("PTO", "全功率取力器（PTO）", "Full-power PTO", 0.08, "套"),
        ("HIGH", "高原型增压匹配（4500m）", "High-altitude kit (4,500 m)", 0.05, "套"),
        ("IOT", "远程监控终端", "Telematics unit", 0.03, "套"),
    ],
    "genset": [
        ("GRID", "并网控制柜", "Grid-parallel switchgear", 0.06, "套"),
        ("CHP", "余热回收系统", "Heat recovery system", 0.14, "套"),
        ("BOX", "静音集装箱体", "Sound-proof container", 0.05, "套"),
    ],
    "rail": [
        ("AC", "驾驶室空调（大功率）", "Cab air conditioning", 0.004, "套"),
        ("MEAS", "自动化轨道测量系统", "Automatic track measuring system", 0.03, "套"),
        ("DIAG", "远程故障诊断系统", "Remote diagnostics", 0.01, "套"),
    ],
    "marine": [
        ("SCR", "SCR 尾气处理系统（Tier III）", "SCR system (IMO Tier III)", 0.08, "套"),
        ("CCS", "CCS 船级社入级检验", "CCS class certification", 0.01, "项"),
        ("RM", "机舱远程监控系统", "Engine-room remote monitoring", 0.015, "套"),
    ],
    "marine_gen": [
        ("CCS", "CCS 船级社入级检验", "CCS class certification", 0.02, "项"),
        ("PMS", "电站管理系统", "Power management system", 0.05, "套"),
    ],
}

# spare parts: (part number, name, English name, price, unit, families or machine codes it fits)
PARTS: list[tuple[str, str, str, str, int, str, tuple[str, ...]]] = [
    ("CRANE", "60208031", "液压主泵", "Main hydraulic pump", 23_800, "件", ("truck", "crawler")),
    ("CRANE", "60211402", "回转支承", "Slewing bearing", 46_500, "件", ("truck", "crawler")),
    ("CRANE", "60230018", "起升卷扬减速机", "Hoist winch gearbox", 31_200, "件", ("truck", "crawler")),
    (
        "CRANE",
        "60245160",
        "力矩限制器传感器",
        "Load moment sensor",
        4_680,
        "件",
        ("truck", "crawler", "tower"),
    ),
    ("CRANE", "60252207", "支腿油缸密封件组", "Outrigger cylinder seal kit", 1_260, "套", ("truck",)),
    (
        "CRANE",
        "60260018",
        "钢丝绳 Φ18mm（200米）",
        "Wire rope Φ18 mm, 200 m",
        9_800,
        "卷",
        ("truck", "tower"),
    ),
    ("CRANE", "60271105", "回转机构总成", "Slewing mechanism assembly", 38_000, "件", ("tower",)),
    ("CRANE", "60273310", "变幅小车总成", "Trolley assembly", 12_600, "件", ("tower",)),
    ("CRANE", "60274420", "标准节高强螺栓组", "Mast section high-strength bolt set", 860, "套", ("tower",)),
    ("CRANE", "60280031", "履带板（单块）", "Track shoe", 2_350, "块", ("crawler",)),
    ("ENGINE", "61560090", "电控喷油器", "Common-rail injector", 3_280, "件", ("engine",)),
    ("ENGINE", "61260011", "涡轮增压器", "Turbocharger", 8_900, "件", ("engine",)),
    ("ENGINE", "61000070", "机油滤清器（10只装）", "Oil filter, box of 10", 680, "盒", ("engine", "genset")),
    ("ENGINE", "61260065", "水泵总成", "Water pump assembly", 2_150, "件", ("engine",)),
    ("ENGINE", "61270210", "火花塞组（16只）", "Spark plug set (16)", 5_600, "套", ("genset",)),
    ("ENGINE", "61280330", "气缸套", "Cylinder liner", 7_400, "件", ("genset",)),
    ("RAIL", "62100125", "捣固镐", "Tamping tine", 1_980, "件", ("DCL-32K",)),
    ("RAIL", "62110340", "液压驱动马达", "Hydraulic drive motor", 36_000, "件", ("rail",)),
    ("RAIL", "62120018", "制动闸片（组）", "Brake pad set", 3_600, "组", ("rail",)),
    ("RAIL", "62130450", "受电弓碳滑板", "Pantograph carbon strip", 2_400, "件", ("JW-4G",)),
    ("MARINE", "63100050", "气缸套", "Cylinder liner", 168_000, "件", ("HY6S50",)),
    ("MARINE", "63100120", "活塞环组", "Piston ring set", 42_000, "套", ("HY6S50", "HY8L21")),
    ("MARINE", "63100210", "燃油喷油器", "Fuel injector", 46_800, "件", ("HY6S50", "HY8L21")),
    ("MARINE", "63100330", "增压器转子", "Turbocharger rotor", 215_000, "件", ("HY6S50",)),
    ("MARINE", "63100410", "主轴承瓦", "Main bearing shell", 28_600, "件", ("HY8L21", "CCFJ400")),
    ("MARINE", "63200060", "桨叶密封件组", "Blade seal kit", 58_000, "套", ("CPP-3000",)),
]

# services per line: (suffix, name, English name, price, unit)
SERVICES: dict[str, list[tuple[str, str, str, int, str]]] = {
    "CRANE": [
        ("INST", "安装调试服务", "Installation and commissioning", 28_000, "次"),
        ("PM", "年度保养套餐", "Annual maintenance package", 36_000, "年"),
        ("EXTW", "延长质保（2年）", "Extended warranty, 2 years", 58_000, "项"),
        ("TRAIN", "操作员培训（5天）", "Operator training, 5 days", 9_600, "期"),
    ],
    "ENGINE": [
        ("PM", "发动机保养套餐（2000小时）", "Engine service package, 2,000 h", 6_800, "次"),
        ("EXTW", "延长质保（2年）", "Extended warranty, 2 years", 4_500, "台"),
        ("OVH", "大修服务", "Overhaul service", 42_000, "次"),
    ],
    "RAIL": [
        ("INST", "交车调试与上线验收", "Commissioning and line acceptance", 120_000, "次"),
        ("PM", "年度维保合同", "Annual maintenance contract", 380_000, "年"),
        ("TRAIN", "司机与作业人员培训", "Driver and operator training", 45_000, "期"),
    ],
    "MARINE": [
        ("INST", "船厂安装指导与系泊试验", "Shipyard installation and mooring trials", 260_000, "次"),
        ("PM", "坞修保养服务", "Dry-dock maintenance", 320_000, "次"),
        ("EXTW", "延长质保（2年）", "Extended warranty, 2 years", 480_000, "项"),
    ],
}


def option_code(machine: str, suffix: str) -> str:
    return f"{machine}-OPT-{suffix}"


def service_code(line: str, suffix: str) -> str:
    return f"SV-{line}-{suffix}"


def part_code(number: str) -> str:
    return f"HY{number}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _round(value: float, step: int) -> Decimal:
    return Decimal(max(step, int(round(value / step)) * step))


def catalog_plan() -> list[dict]:
    """Every demo product as service arguments (without the line object), machines first."""
    out: list[dict] = []
    for m in MACHINES:
        out.append(
            {
                "line": m.line,
                "code": m.code,
                # The code is shown beside the name everywhere: the name says what the model is.
                "name": m.name.removeprefix(f"{m.code} "),
                "name_en": _capital(m.name_en.removeprefix(f"{m.code} ")),
                "kind": "machine",
                "list_price": Decimal(m.price),
                "unit": m.unit,
                "fits": [],
            }
        )
    for m in MACHINES:
        for suffix, name, name_en, share, unit in OPTIONS.get(m.family, []):
            out.append(
                {
                    "line": m.line,
                    "code": option_code(m.code, suffix),
                    "name": f"{m.code} {name}",
                    "name_en": f"{name_en} for {m.code}",
                    "kind": "option",
                    "list_price": _round(m.price * share, 100),
                    "unit": unit,
                    "fits": [m.code],
                }
            )
    for line, number, name, name_en, price, unit, fits in PARTS:
        machines = [m.code for m in MACHINES if m.line == line and (m.family in fits or m.code in fits)]
        out.append(
            {
                "line": line,
                "code": part_code(number),
                "name": name,
                "name_en": name_en,
                "kind": "spare_part",
                "list_price": Decimal(price),
                "unit": unit,
                "fits": machines,
            }
        )
    for line, services in SERVICES.items():
        machines = [m.code for m in MACHINES if m.line == line]
        for suffix, name, name_en, price, unit in services:
            out.append(
                {
                    "line": line,
                    "code": service_code(line, suffix),
                    "name": name,
                    "name_en": name_en,
                    "kind": "service",
                    "list_price": Decimal(price),
                    "unit": unit,
                    "fits": machines,
                }
            )
    return out


@seeder("catalog", after=("org",))
def seed_catalog(ctx: DemoContext) -> None:
    """Product lines, ~150 products and which options, parts and services fit which machines."""
    from steelyard.catalog.models import Product, ProductLine
    from steelyard.catalog.services import product_create, product_line_create

    with transaction.atomic():
        lines = {pl.code: pl for pl in ProductLine.objects.filter(code__in=[c for c, *_r in LINES])}
        for code, name, name_en, order, description, settings in LINES:
            if code not in lines:
                lines[code] = product_line_create(
                    actor=None,
                    code=code,
                    name=name,
                    name_en=name_en,
                    sort_order=order,
                    description=description,
                    settings=settings,
                )
                ctx.count("catalog.product_line")
        plan = catalog_plan()
        products = {p.code: p for p in Product.objects.filter(code__in=[p["code"] for p in plan])}
        for spec in plan:
            if spec["code"] in products:
                continue
            products[spec["code"]] = product_create(
                actor=None,
                code=spec["code"],
                name=spec["name"],
                name_en=spec["name_en"],
                product_line=lines[spec["line"]],
                kind=spec["kind"],
                list_price=spec["list_price"],
                unit=spec["unit"],
                fits=[products[c] for c in spec["fits"] if c in products],
            )
            ctx.count("catalog.product")

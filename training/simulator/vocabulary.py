"""The simulated mall's words: the category tree, product nouns, modifiers, specs, brands.

Every leaf category carries a Chinese and an English noun, a typical price, the delivery
promise and whether it is a consumable; titles and queries are written from these words
in either language, so search must handle both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Leaf:
    """A leaf category and the words and prices of its products."""

    zh: str
    en: str
    median_price: float
    specs: tuple[str, ...]


@dataclass(frozen=True)
class Top:
    """A top-level category, its time-slot theme, and its leaves."""

    zh: str
    en: str
    theme: str
    consumable: bool
    promised_days: int
    leaves: tuple[Leaf, ...]


TREE: tuple[Top, ...] = (
    Top("粮油调味", "grains & cooking oil", "grains_oil", True, 3, (
        Leaf("大米", "rice", 45.0, ("5kg", "10kg", "2.5kg")),
        Leaf("食用油", "cooking oil", 60.0, ("5L", "1.8L", "4L")),
        Leaf("面粉", "flour", 25.0, ("5kg", "2.5kg", "1kg")),
        Leaf("酱油", "soy sauce", 15.0, ("500ml", "1L", "1.6L")),
    )),
    Top("休闲食品", "snacks & food", "food_daily", True, 3, (
        Leaf("坚果", "nuts", 50.0, ("500g", "750g", "1kg")),
        Leaf("饼干", "biscuits", 20.0, ("400g", "1kg", "24pcs")),
        Leaf("牛奶", "milk", 55.0, ("250ml*12", "250ml*24", "1L*6")),
        Leaf("咖啡", "coffee", 70.0, ("100 capsules", "500g", "30 sachets")),
    )),
    Top("日用百货", "daily goods", "food_daily", True, 3, (
        Leaf("纸巾", "tissues", 30.0, ("24 packs", "12 rolls", "3-ply")),
        Leaf("洗衣液", "laundry detergent", 40.0, ("2kg", "3kg", "4L")),
        Leaf("牙膏", "toothpaste", 18.0, ("120g", "180g", "3 tubes")),
        Leaf("垃圾袋", "trash bags", 12.0, ("100pcs", "150pcs", "thick")),
    )),
    Top("数码", "digital", "digital", False, 3, (
        Leaf("手机", "smartphone", 2500.0, ("128GB", "256GB", "5G")),
        Leaf("耳机", "earbuds", 200.0, ("bluetooth 5.3", "noise cancelling", "wireless")),
        Leaf("充电器", "charger", 60.0, ("65W", "20W", "USB-C")),
        Leaf("平板电脑", "tablet", 2000.0, ("11inch", "128GB", "wifi")),
    )),
    Top("美妆护肤", "beauty", "beauty", False, 3, (
        Leaf("面霜", "face cream", 180.0, ("50g", "30ml", "moisturising")),
        Leaf("口红", "lipstick", 150.0, ("matte", "3.5g", "velvet")),
        Leaf("面膜", "face mask", 90.0, ("10 sheets", "25ml*5", "hydrating")),
        Leaf("洗面奶", "cleanser", 60.0, ("120g", "150ml", "amino acid")),
    )),
    Top("服饰鞋包", "apparel", "", False, 4, (
        Leaf("T恤", "t-shirt", 80.0, ("cotton", "oversize", "M/L/XL")),
        Leaf("牛仔裤", "jeans", 150.0, ("slim", "straight", "stretch")),
        Leaf("运动鞋", "sneakers", 300.0, ("running", "breathable", "size 42")),
        Leaf("羽绒服", "down jacket", 600.0, ("90% down", "hooded", "long")),
    )),
    Top("家居家纺", "home", "", False, 4, (
        Leaf("床单", "bed sheet", 100.0, ("1.8m", "cotton", "4-piece")),
        Leaf("枕头", "pillow", 80.0, ("memory foam", "pair", "latex")),
        Leaf("收纳盒", "storage box", 40.0, ("3 pack", "foldable", "large")),
    )),
    Top("家用电器", "appliances", "", False, 4, (
        Leaf("电饭煲", "rice cooker", 300.0, ("4L", "5L", "smart")),
        Leaf("空气炸锅", "air fryer", 350.0, ("5L", "6L", "visible")),
        Leaf("吸尘器", "vacuum cleaner", 900.0, ("cordless", "robot", "handheld")),
    )),
    Top("生鲜水果", "fresh food", "", True, 2, (
        Leaf("苹果", "apples", 50.0, ("5kg", "10 pcs", "crisp")),
        Leaf("牛肉", "beef", 120.0, ("1kg", "steak", "grass-fed")),
        Leaf("鸡蛋", "eggs", 35.0, ("30 pcs", "free-range", "60 pcs")),
    )),
    Top("母婴用品", "baby", "", True, 3, (
        Leaf("纸尿裤", "diapers", 130.0, ("size L", "size M", "84 pcs")),
        Leaf("奶粉", "infant formula", 250.0, ("stage 3", "800g", "stage 2")),
    )),
)

MODIFIERS_ZH = ("新款", "加厚", "大容量", "家用", "便携", "有机", "进口", "正品", "高端", "经典",
                "特价", "升级款", "官方", "轻薄", "优选")
MODIFIERS_EN = ("new", "thick", "large", "home", "portable", "organic", "imported", "genuine",
                "premium", "classic", "value", "upgraded", "official", "slim", "select")

_BRAND_ZH = "金龙华美康乐佳德福源润绿安雅顺泰盛新海宝丰瑞鑫星悦禾田云山川"
_BRAND_EN = ("ka", "lo", "mi", "ve", "ta", "ro", "zen", "no", "su", "pe", "lu", "vi", "dor",
             "ax", "qi", "sel", "mar", "tu", "fen", "ori")
_BRAND_EN_END = ("", "x", "a", "on", "ia", "ex")

REGIONS = ("广东", "浙江", "江苏", "山东", "河南", "四川", "湖北", "福建", "上海", "北京",
           "湖南", "安徽", "河北", "陕西", "辽宁", "云南", "广西", "江西", "重庆", "黑龙江")
REFERENCE_SOURCES = ("platform_a", "platform_b", "platform_c", "offline_store")


def brand_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct brand names, about half Chinese and half Latin."""
    names: list[str] = []
    seen: set[str] = set()
    zh = list(_BRAND_ZH)
    while len(names) < n:
        if rng.random() < 0.5:
            k = 2 if rng.random() < 0.6 else 3
            name = "".join(rng.choice(zh, size=k))
        else:
            k = 2 if rng.random() < 0.7 else 3
            name = "".join(rng.choice(_BRAND_EN, size=k)) + str(rng.choice(_BRAND_EN_END))
            name = name.capitalize()
        if name in seen:
            name = f"{name}{len(names)}"
        seen.add(name)
        names.append(name)
    return names


def leaves() -> list[tuple[int, Top, Leaf]]:
    """Every leaf with the index of its top-level category, in a fixed order."""
    return [(t, top, leaf) for t, top in enumerate(TREE) for leaf in top.leaves]

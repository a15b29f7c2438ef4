# ruff: noqa: E501  (data tables: one category path or intent per line reads better than wrapped)
"""Curated vocabulary for the QI sample: search intents, relevant item titles and hard negatives.

Written for this project (CC0, see README.md). Titles read like marketplace listings. Hard negatives
are the near misses a relevance model must learn: the wrong phone model, size, gender, socket, switch
type or wattage, the accessory instead of the product, the product instead of the accessory. `local`
adds titles written in the query's own language. `group` keeps random "easy" negatives out of
neighbouring products (a charger title is never drawn as an easy negative for a cable query).

Queries are per language; a plain string means its English translation is the intent's gloss, a
(query, english) pair gives the translation explicitly.
"""

from __future__ import annotations

Query = str | tuple[str, str]


class Intent:
    __slots__ = ("gloss", "group", "hard", "local", "pos", "queries")

    def __init__(
        self, gloss: str, group: str, *, pos: list[str], hard: list[str], queries: dict[str, Query],
        local: dict[str, list[tuple[str, int]]] | None = None,
    ) -> None:  # fmt: skip
        self.gloss, self.group, self.pos, self.hard = gloss, group, pos, hard
        self.queries, self.local = queries, local or {}


INTENTS: list[Intent] = [
    Intent("iphone 13 case", "phone", pos=[
        "Shockproof Clear Case for iPhone 13 Transparent TPU Bumper Cover",
        "Magnetic Leather Wallet Flip Case for iPhone 13 with Card Holder",
        "Liquid Silicone Case for Apple iPhone 13 6.1 inch Soft Microfiber Lining",
    ], hard=[
        "Samsung Galaxy S21 Silicone Case Soft Touch Cover",
        "Tempered Glass Screen Protector for iPhone 13 2-Pack",
        "Clear Case for iPhone 15 Pro Max Anti-Yellowing",
    ], queries={
        "en": "iphone 13 case", "es": "funda iphone 13", "ja": "iphone13 ケース", "ko": "아이폰13 케이스",
        "th": "เคส iphone 13", "pt": "capinha iphone 13",
    }, local={
        "ja": [("iPhone13 ケース 手帳型 カード収納 レザー", 1), ("iPhone15 ケース 手帳型 レザー", 0)],
        "ko": [("아이폰13 투명 젤리 케이스 범퍼", 1)],
        "th": [("เคสใส iPhone 13 กันกระแทก", 1)],
    }),
    Intent("galaxy s23 ultra screen protector", "phone", pos=[
        "Tempered Glass Screen Protector for Samsung Galaxy S23 Ultra 9H Curved Full Cover",
        "Hydrogel Film for Samsung Galaxy S23 Ultra Screen Protector Fingerprint Compatible",
    ], hard=[
        "Tempered Glass Screen Protector for iPhone 14 Pro",
        "Samsung Galaxy S23 Ultra Silicone Case with S Pen Slot",
        "Camera Lens Protector for Samsung Galaxy S22 Ultra",
    ], queries={
        "en": "s23 ultra screen protector", "es": ("mica s23 ultra", "s23 ultra screen protector"),
        "ko": "갤럭시 s23 울트라 액정보호필름", "pt": "película s23 ultra", "vi": "kính cường lực s23 ultra",
    }),
    Intent("20w usb c charger", "phone", pos=[
        "20W USB C Fast Charger PD Wall Adapter for iPhone 14 13 12",
        "Baseus 20W PD Fast Charging USB Type C Wall Charger EU Plug",
        "Anker 20W USB-C Power Adapter Compact Fast Charger",
    ], hard=[
        "USB C to Lightning Cable 2m Fast Charging Braided",
        "20000mAh Power Bank 20W PD Fast Charging Portable Battery",
        "Car Charger Dual USB 12V Cigarette Lighter Adapter",
    ], queries={
        "en": "20w usb c charger", "pt": "carregador 20w usb c", "fr": "chargeur usb c 20w",
        "th": "หัวชาร์จ 20w usb c", "id": "charger 20w type c",
    }),
    Intent("noise cancelling bluetooth earbuds", "audio", pos=[
        "Wireless Earbuds Bluetooth 5.3 Active Noise Cancelling In-Ear Headphones with Charging Case",
        "ANC True Wireless Earphones Bluetooth Headset with Mic Hi-Fi Stereo",
        "Sony WF-1000XM4 Noise Canceling Truly Wireless Earbuds",
    ], hard=[
        "Over-Ear Wired Studio Headphones 3.5mm",
        "Silicone Protective Case for AirPods Pro 2",
        "Portable Bluetooth Speaker Waterproof IPX7",
    ], queries={
        "en": "bluetooth earbuds noise cancelling",
        "es": "audifonos bluetooth con cancelacion de ruido",
        "ja": ("ワイヤレスイヤホン ノイズキャンセリング", "wireless earbuds noise cancelling"),
        "ko": "노이즈캔슬링 블루투스 이어폰", "th": "หูฟังบลูทูธ ตัดเสียงรบกวน",
        "de": ("Bluetooth Kopfhörer In Ear Noise Cancelling", "bluetooth in-ear headphones noise cancelling"),
    }, local={
        "ja": [("ワイヤレスイヤホン Bluetooth5.3 ノイズキャンセリング 防水", 1)],
    }),
    Intent("airpods pro 2 case", "audio", pos=[
        "Silicone Protective Case for AirPods Pro 2nd Generation with Keychain",
        "Hard PC Shockproof Cover for Apple AirPods Pro 2 Charging Case",
    ], hard=[
        "Silicone Case for AirPods 3rd Generation",
        "Wireless Earbuds Bluetooth 5.3 with Charging Case",
        "Samsung Galaxy Buds 2 Pro Case Cover",
    ], queries={
        "en": "airpods pro 2 case", "ko": "에어팟 프로2 케이스",
        "ja": ("airpods pro 第2世代 ケース", "airpods pro 2nd generation case"),
        "fr": "coque airpods pro 2", "th": "เคส airpods pro 2",
    }),
    Intent("ps5 controller", "games", pos=[
        "Sony PlayStation 5 DualSense Wireless Controller White",
        "Wireless Controller for PS5 with Dual Vibration Gamepad Compatible with PlayStation 5",
        "DualSense Edge Wireless Controller for PS5",
    ], hard=[
        "PS4 DualShock 4 Wireless Controller Black",
        "Xbox Series X Wireless Controller Carbon Black",
        "Charging Station for PS5 Controller Dual Fast Charger",
    ], queries={
        "en": "ps5 controller", "es": ("control ps5", "ps5 controller"), "pt": "controle ps5",
        "fr": "manette ps5", "ja": "ps5 コントローラー", "id": ("stik ps5", "ps5 controller"),
    }),
    Intent("mechanical keyboard red switch", "computer", pos=[
        "RK84 Wireless Mechanical Keyboard 75% Hot Swappable Red Switch RGB",
        "Redragon K552 Mechanical Gaming Keyboard Red Switches 87 Keys",
    ], hard=[
        "Mechanical Keyboard Blue Switch 104 Keys Clicky",
        "Wireless Silent Membrane Keyboard and Mouse Combo",
        "PBT Keycaps Set 108 Keys Cherry Profile",
    ], queries={
        "en": "mechanical keyboard red switch", "es": "teclado mecanico switch red",
        "ko": ("기계식 키보드 적축", "mechanical keyboard red switch"),
        "ja": ("メカニカルキーボード 赤軸", "mechanical keyboard red switch"),
        "fr": "clavier mécanique switch rouge",
    }),
    Intent("wireless gaming mouse", "computer", pos=[
        "Logitech G305 Lightspeed Wireless Gaming Mouse 12000 DPI",
        "Razer DeathAdder V3 Pro Wireless Gaming Mouse",
        "2.4G Wireless Gaming Mouse Rechargeable RGB 7 Buttons 4800 DPI",
    ], hard=[
        "Wired Gaming Mouse RGB 12800 DPI USB",
        "XXL Gaming Mouse Pad 900x400mm",
        "Mechanical Gaming Keyboard RGB Backlit",
    ], queries={
        "en": "wireless gaming mouse", "pt": "mouse gamer sem fio", "es": "mouse gamer inalambrico",
        "ko": "무선 게이밍 마우스", "vi": "chuột gaming không dây",
    }),
    Intent("1tb nvme ssd", "computer", pos=[
        "Samsung 980 PRO 1TB PCIe 4.0 NVMe M.2 Internal SSD",
        "WD Blue SN570 1TB NVMe M.2 2280 Solid State Drive",
        "KingSpec 1TB M.2 NVMe PCIe 3.0 SSD for Laptop Desktop",
    ], hard=[
        "Samsung 870 EVO 1TB 2.5 Inch SATA III SSD",
        "M.2 NVMe SSD Enclosure USB 3.2 10Gbps Aluminium",
        "Kingston 512GB NVMe M.2 SSD",
    ], queries={
        "en": "1tb nvme ssd", "pt": "ssd nvme 1tb", "es": "disco ssd m.2 nvme 1tb",
        "ko": ("nvme ssd 1테라", "1tb nvme ssd"), "de": "SSD 1TB NVMe M.2",
    }),
    Intent("usb c hub with hdmi", "computer", pos=[
        "7 in 1 USB C Hub with 4K HDMI 100W PD SD Card Reader",
        "UGREEN USB C Hub 5 in 1 HDMI USB 3.0 Adapter for MacBook",
    ], hard=[
        "4 Port USB 3.0 Hub USB-A Powered",
        "USB C to HDMI Cable 4K 2m",
        "Laptop Stand Aluminium Adjustable",
    ], queries={
        "en": "usb c hub hdmi", "ja": "usb-c ハブ hdmi", "fr": "hub usb c hdmi", "id": "hub type c hdmi",
    }),
    Intent("15.6 inch laptop backpack", "bags", pos=[
        "Men's Laptop Backpack 15.6 Inch Waterproof with USB Charging Port",
        "Anti Theft Travel Backpack Fits 15.6\" Laptop Business Bag",
    ], hard=[
        "13 Inch Laptop Sleeve Case Neoprene",
        "Kids School Backpack Cartoon Unicorn for Girls",
        "Rolling Laptop Bag with Wheels 17 inch",
    ], queries={
        "en": "laptop backpack 15.6 inch", "es": "mochila para laptop 15.6", "ko": "노트북 백팩 15.6인치",
        "th": "กระเป๋าเป้โน๊ตบุ๊ค 15.6 นิ้ว", "vi": "balo laptop 15.6 inch",
    }),
    Intent("women's fanny pack", "bags", pos=[
        "Fashion Waist Bag for Women Leather Fanny Pack Belt Bag",
        "Crossbody Belt Bag Women Nylon Waist Pack with Adjustable Strap",
    ], hard=[
        "Men's Tactical Waist Pack Military Molle Hip Bag",
        "Women's Large Tote Shoulder Bag PU Leather",
    ], queries={
        "en": "fanny pack women", "es": "riñonera mujer", "pt": "pochete feminina", "fr": "sac banane femme",
        "ja": ("ウエストポーチ レディース", "women's waist bag"), "ko": ("여성 힙색", "women's hip bag"),
    }, local={
        "ja": [("ウエストポーチ レディース 斜めがけ 軽量 防水", 1)],
    }),
    Intent("men's leather wallet", "bags", pos=[
        "Genuine Leather Men's Bifold Wallet RFID Blocking Slim Card Holder",
        "Men's Wallet Cowhide Leather Short Purse with Coin Pocket",
    ], hard=[
        "Women's Long Wallet PU Leather Zipper Clutch",
        "Men's Canvas Crossbody Shoulder Bag",
    ], queries={
        "en": "mens leather wallet", "es": "cartera de piel hombre", "de": "Geldbörse Herren Leder",
        "ko": "남자 가죽 지갑", "th": "กระเป๋าสตางค์ผู้ชาย หนังแท้",
    }),
    Intent("20 inch carry on luggage", "bags", pos=[
        "20 Inch Carry On Luggage Hardside Spinner Suitcase with TSA Lock",
        "Cabin Size Suitcase 20\" Lightweight ABS Trolley 4 Wheels",
    ], hard=[
        "28 Inch Large Checked Luggage Expandable",
        "Travel Duffel Bag Foldable Weekender",
        "Luggage Scale Digital 50kg",
    ], queries={
        "en": "20 inch carry on luggage", "fr": ("valise cabine 55 cm", "55 cm cabin suitcase"),
        "es": "maleta de cabina 20 pulgadas", "ja": ("スーツケース 機内持ち込み", "carry-on suitcase"),
        "pt": ("mala de bordo", "carry-on suitcase"), "id": "koper kabin 20 inch",
    }),
    Intent("women's floral summer dress", "women", pos=[
        "Women's Floral Print Summer Dress V Neck Short Sleeve Midi Dress",
        "Boho Floral Maxi Dress Women Summer Beach Sundress",
    ], hard=[
        "Girls Floral Summer Dress Toddler Kids Sundress",
        "Women's Black Sequin Evening Gown Long",
        "Floral Print Men's Hawaiian Shirt",
    ], queries={
        "en": "womens floral summer dress", "es": "vestido floral de verano mujer",
        "fr": "robe d'été fleurie femme", "pt": "vestido floral verão feminino",
        "ja": ("花柄 ワンピース 夏 レディース", "women's floral summer dress"),
        "ko": "여성 꽃무늬 여름 원피스", "th": ("ชุดเดรสลายดอก ผู้หญิง", "women's floral dress"),
    }, local={
        "ja": [("花柄ワンピース レディース 夏 半袖 ロング丈", 1)],
        "ko": [("여름 꽃무늬 롱원피스 여성", 1), ("여성 블랙 롱 드레스 파티", 0)],
    }),
    Intent("oversized t-shirt", "clothing", pos=[
        "Oversized T-Shirt Unisex Cotton Drop Shoulder Streetwear Tee",
        "Men's Oversized Graphic Tee 100% Cotton Loose Fit",
    ], hard=[
        "Slim Fit Muscle T-Shirt Men Stretch",
        "Oversized Hoodie Unisex Fleece Pullover",
        "Crop Top Women Basic Fitted Tee",
    ], queries={
        "en": "oversized t-shirt", "ko": ("오버핏 반팔티", "oversized short sleeve t-shirt"),
        "es": ("playera oversize", "oversized t-shirt"), "pt": "camiseta oversized",
        "th": "เสื้อยืด oversize", "vi": "áo thun oversize",
    }),
    Intent("high waisted mom jeans", "women", pos=[
        "Women's High Waisted Mom Jeans Vintage Straight Leg Denim",
        "High Rise Mom Jeans Women Loose Fit Light Wash",
    ], hard=[
        "Men's Slim Fit Stretch Jeans",
        "Women's Low Rise Flare Jeans",
        "High Waisted Denim Shorts Women",
    ], queries={
        "en": "high waisted mom jeans", "es": "jeans mom tiro alto", "pt": "calça mom jeans cintura alta",
        "fr": "jean mom taille haute", "ko": "하이웨스트 맘진",
    }),
    Intent("men's puffer jacket", "clothing", pos=[
        "Men's Winter Puffer Jacket Hooded Warm Down Coat",
        "Lightweight Packable Down Jacket Men 90% Duck Down",
    ], hard=[
        "Women's Long Puffer Coat with Fur Hood",
        "Men's Denim Jacket Classic Trucker",
        "Men's Puffer Vest Sleeveless Gilet",
    ], queries={
        "en": "mens puffer jacket", "fr": ("doudoune homme", "men's down jacket"),
        "ja": ("ダウンジャケット メンズ", "men's down jacket"), "ko": ("남자 숏패딩", "men's short puffer jacket"),
        "de": ("Daunenjacke Herren", "men's down jacket"), "pt": "jaqueta puffer masculina",
    }),
    Intent("women's running shoes", "shoes", pos=[
        "Women's Running Shoes Lightweight Breathable Mesh Sneakers",
        "Nike Air Zoom Pegasus 40 Women's Road Running Shoes",
        "ASICS Gel-Kayano 30 Women's Running Shoe",
    ], hard=[
        "Nike Air Zoom Pegasus 40 Men's Running Shoes",
        "Women's Hiking Boots Waterproof Leather",
        "Women's Platform Canvas Sneakers Casual",
    ], queries={
        "en": "womens running shoes", "es": "zapatillas running mujer", "pt": "tênis de corrida feminino",
        "fr": "chaussures running femme", "ja": "ランニングシューズ レディース", "ko": "여성 런닝화",
        "th": "รองเท้าวิ่งผู้หญิง",
    }, local={
        "th": [("รองเท้าวิ่งผู้หญิง น้ำหนักเบา ระบายอากาศ", 1), ("รองเท้าวิ่งผู้ชาย พื้นนุ่ม", 0)],
    }),
    Intent("nike air force 1", "shoes", pos=[
        "Nike Air Force 1 '07 Men's Shoes White",
        "Nike Air Force 1 Low Triple White Sneakers",
    ], hard=[
        "Adidas Stan Smith White Sneakers",
        "Nike Air Max 90 Men's Shoes",
        "Shoe Crease Protectors for Nike Air Force 1",
    ], queries={
        "en": "air force 1", "es": ("nike air force 1 blancas", "white nike air force 1"),
        "pt": ("tênis nike air force", "nike air force sneakers"), "ko": "나이키 에어포스1",
        "ja": "エアフォース1", "id": ("sepatu nike air force 1", "nike air force 1 shoes"),
        "vi": ("giày nike air force 1", "nike air force 1 shoes"),
    }),
    Intent("men's waterproof hiking boots", "shoes", pos=[
        "Men's Waterproof Hiking Boots Mid Ankle Trekking Shoes",
        "Merrell Moab 3 Mid Waterproof Men's Hiking Boot",
    ], hard=[
        "Women's Waterproof Hiking Boots Mid",
        "Men's Chelsea Boots Leather Casual",
        "Hiking Socks Merino Wool 3 Pairs",
    ], queries={
        "en": "waterproof hiking boots men", "de": "Wanderschuhe Herren wasserdicht",
        "fr": "chaussures de randonnée homme imperméables", "es": "botas de montaña impermeables hombre",
    }),
    Intent("black high heels", "shoes", pos=[
        "Women's Black Pointed Toe Stiletto Pumps 10cm",
        "Classic Black Patent Leather High Heels Women",
    ], hard=[
        "Women's Nude Block Heel Pumps",
        "Black Ankle Boots Women Chunky Heel",
        "Black Ballet Flats Women",
    ], queries={
        "en": "black high heels", "es": "tacones negros", "pt": "salto alto preto",
        "ja": ("パンプス 黒 ハイヒール", "black pumps high heels"), "ko": "검정 하이힐",
        "th": "รองเท้าส้นสูงสีดำ",
    }),
    Intent("28cm non-stick frying pan", "kitchen", pos=[
        "Non Stick Frying Pan 28cm Granite Coating Induction Compatible",
        "Tefal 28 cm Non-Stick Frying Pan",
    ], hard=[
        "Cast Iron Skillet 30cm Pre-Seasoned",
        "Non Stick Frying Pan 20cm",
        "Silicone Cooking Utensil Set 12 Pcs",
    ], queries={
        "en": "non stick frying pan 28cm", "es": "sarten antiadherente 28 cm", "fr": "poêle antiadhésive 28 cm",
        "ja": ("フライパン 28cm", "frying pan 28cm"), "ko": ("프라이팬 28cm", "frying pan 28cm"),
        "pt": "frigideira antiaderente 28cm",
    }, local={
        "ja": [("フライパン 28cm IH対応 こびりつかない", 1)],
    }),
    Intent("air fryer", "kitchen", pos=[
        "Digital Air Fryer 5.5L 1700W Oil Free Cooker",
        "Philips Essential Airfryer XL 6.2L",
        "COSORI Air Fryer 5.5L with 11 Presets",
    ], hard=[
        "Air Fryer Silicone Liners Reusable 2 Pack",
        "Electric Deep Fryer 3L Stainless Steel",
        "Microwave Oven 20L",
    ], queries={
        "en": "air fryer 5l", "es": "freidora de aire", "fr": ("friteuse sans huile", "oil-free fryer"),
        "pt": ("air fryer 5 litros", "air fryer 5 liters"), "ko": "에어프라이어",
        "th": ("หม้อทอดไร้น้ำมัน", "oil-free fryer"), "id": ("air fryer 5 liter", "air fryer 5 liters"),
        "vi": ("nồi chiên không dầu", "oil-free fryer"), "de": "Heißluftfritteuse",
    }, local={
        "th": [("หม้อทอดไร้น้ำมัน 5.5 ลิตร ระบบดิจิตอล", 1)],
        "vi": [("Nồi chiên không dầu 6L điện tử", 1)],
    }),
    Intent("robot vacuum", "home", pos=[
        "Robot Vacuum Cleaner with Mop LiDAR Navigation App Control",
        "roborock Q7 Max Robot Vacuum and Mop",
    ], hard=[
        "Replacement Filters and Brushes for iRobot Roomba 600 Series",
        "Cordless Stick Vacuum Cleaner 25kPa",
    ], queries={
        "en": "robot vacuum with mop", "ja": ("ロボット掃除機 水拭き", "robot vacuum with mopping"),
        "ko": ("로봇청소기 물걸레", "robot vacuum with mop"), "es": ("aspiradora robot con trapeador", "robot vacuum with mop"),
        "pt": ("robô aspirador passa pano", "robot vacuum that mops"), "th": ("หุ่นยนต์ดูดฝุ่น ถูพื้น", "robot vacuum with mopping"),
    }),
    Intent("humidifier", "home", pos=[
        "Cool Mist Humidifier 4L Ultrasonic for Bedroom Quiet",
        "Mini USB Humidifier Portable Desk Air Humidifier",
    ], hard=[
        "Dehumidifier 2000ml for Home",
        "Air Purifier HEPA H13",
    ], queries={
        "en": "humidifier", "ja": ("加湿器", "humidifier"), "ko": ("가습기", "humidifier"),
        "pt": ("umidificador de ar", "air humidifier"), "th": ("เครื่องทำความชื้น", "humidifier"),
    }),
    Intent("spf 50 face sunscreen", "beauty", pos=[
        "La Roche-Posay Anthelios UVMune 400 SPF50+ Fluid 50ml",
        "Korean Sunscreen SPF50+ PA++++ Watery Sun Cream 50ml",
    ], hard=[
        "After Sun Aloe Vera Gel 200ml",
        "Self Tanning Lotion Gradual Tan 200ml",
        "SPF 15 Tinted Lip Balm",
    ], queries={
        "en": "spf 50 sunscreen face", "ko": ("선크림 spf50", "sunscreen spf50"),
        "ja": ("日焼け止め 顔 spf50", "face sunscreen spf50"), "es": "protector solar facial spf 50",
        "fr": "crème solaire visage spf 50", "th": ("ครีมกันแดด spf50", "sunscreen spf50"),
    }, local={
        "ko": [("[1+1] 워터리 선크림 SPF50+ PA++++ 50ml", 1)],
        "ja": [("日焼け止め SPF50+ PA++++ 顔用 ウォータープルーフ", 1), ("アフターサンジェル アロエ", 0)],
    }),
    Intent("matte lipstick", "beauty", pos=[
        "Maybelline SuperStay Matte Ink Liquid Lipstick",
        "Waterproof Matte Velvet Lipstick Set 6 Colors Long Lasting",
    ], hard=[
        "Glossy Lip Gloss Plumping Clear",
        "Matte Liquid Eyeliner Black Waterproof",
        "Makeup Brush Set 12 pcs",
    ], queries={
        "en": "matte lipstick", "fr": "rouge à lèvres mat", "pt": "batom matte", "es": "labial mate",
        "ko": "매트 립스틱", "th": "ลิปสติกเนื้อแมท", "vi": ("son lì", "matte lipstick"),
    }),
    Intent("gel nail polish kit", "beauty", pos=[
        "Gel Nail Polish Set 24 Colors with UV LED Lamp Starter Kit",
        "Soak Off UV Gel Polish 15ml Nude Pink Series 6 Pcs",
    ], hard=[
        "Regular Nail Polish Quick Dry 12 Colors",
        "Press On Nails 24 pcs Almond Shape",
        "Cuticle Pusher Stainless Steel",
    ], queries={
        "en": "gel nail polish kit", "pt": "kit esmalte em gel",
        "es": ("esmaltes semipermanentes", "semi-permanent gel nail polish"), "ko": ("젤네일 세트", "gel nail set"),
        "ja": ("ジェルネイル キット", "gel nail kit"), "de": ("Gellack Set", "gel polish set"),
    }),
    Intent("hair straightener", "beauty", pos=[
        "Ceramic Flat Iron Hair Straightener 1 Inch Adjustable Temperature",
        "2 in 1 Hair Straightener and Curler Titanium Plates",
    ], hard=[
        "Ionic Hair Dryer 1800W with Diffuser",
        "Automatic Rotating Hair Curler",
        "Heat Protectant Spray for Hair 200ml",
    ], queries={
        "en": "hair straightener", "es": "plancha de pelo", "pt": ("chapinha", "flat iron"),
        "fr": "lisseur cheveux", "ko": ("스트레이트 고데기", "hair straightener"),
        "th": ("เครื่องหนีบผม", "hair straightener"),
    }),
    Intent("dog collar", "pets", pos=[
        "Personalized Leather Dog Collar with Engraved Name Plate",
        "Reflective Nylon Dog Collar Adjustable for Medium Large Dogs",
    ], hard=[
        "Retractable Dog Leash 5m",
        "Cat Collar with Bell Breakaway",
        "Women's Choker Necklace Leather",
    ], queries={
        "en": "dog collar", "es": "collar para perro", "fr": "collier pour chien",
        "pt": "coleira para cachorro", "ja": ("犬 首輪", "dog collar"), "th": "ปลอกคอสุนัข",
    }),
    Intent("cat scratching post", "pets", pos=[
        "Cat Scratching Post 80cm Sisal Rope Cat Tree",
        "Cardboard Cat Scratcher Lounge Bed",
    ], hard=[
        "Interactive Feather Cat Toy Wand",
        "Dog Chew Toy Rubber Bone",
        "Cat Litter Box Enclosed",
    ], queries={
        "en": "cat scratching post", "ja": ("爪とぎ 猫", "cat scratcher"), "ko": ("고양이 스크래쳐", "cat scratcher"),
        "pt": ("arranhador para gato", "cat scratcher"), "fr": ("griffoir chat", "cat scratcher"),
    }),
    Intent("yoga mat", "sports", pos=[
        "TPE Yoga Mat 6mm Non Slip Exercise Mat with Carrying Strap",
        "Extra Thick Yoga Mat 10mm NBR Fitness Pilates Mat",
    ], hard=[
        "Yoga Blocks 2 Pack EVA Foam",
        "Resistance Bands Set 5 Levels",
        "Camping Sleeping Pad Inflatable",
    ], queries={
        "en": "yoga mat", "es": "esterilla de yoga", "fr": "tapis de yoga", "ja": "ヨガマット",
        "ko": "요가매트", "pt": "tapete de yoga", "th": "เสื่อโยคะ", "id": "matras yoga",
    }),
    Intent("adult bike helmet", "sports", pos=[
        "Cycling Helmet with LED Rear Light Adult Road Bike Helmet",
        "MTB Bike Helmet Men Women Adjustable 56-62cm",
    ], hard=[
        "Motorcycle Full Face Helmet DOT Approved",
        "Kids Bike Helmet Toddler 2-5 Years",
        "Cycling Gloves Half Finger",
    ], queries={
        "en": "bike helmet adult", "fr": "casque vélo adulte", "ja": ("自転車 ヘルメット 大人", "bicycle helmet adult"),
        "de": "Fahrradhelm Erwachsene", "vi": ("mũ bảo hiểm xe đạp người lớn", "adult bicycle helmet"),
    }),
    Intent("spinning fishing reel", "sports", pos=[
        "Shimano Sedona FI 2500 Spinning Reel",
        "Spinning Fishing Reel 5.2:1 Metal Spool 3000 Series",
    ], hard=[
        "Baitcasting Reel 7.2:1 Left Hand",
        "Telescopic Fishing Rod 2.1m Carbon",
        "Braided Fishing Line 300m",
    ], queries={
        "en": "spinning reel", "es": "carrete spinning", "pt": ("molinete de pesca", "spinning fishing reel"),
        "ja": "スピニングリール", "ko": "스피닝릴", "th": "รอกสปินนิ่ง", "id": "reel spinning",
    }),
    Intent("4 person camping tent", "sports", pos=[
        "4 Person Camping Tent Waterproof Instant Pop Up Family Tent",
        "Coleman Sundome 4-Person Dome Tent",
    ], hard=[
        "1 Person Ultralight Backpacking Tent",
        "Camping Sleeping Bag Adult",
        "Tent Footprint Ground Sheet",
    ], queries={
        "en": "4 person camping tent", "fr": ("tente 4 places", "4 person tent"),
        "de": ("Zelt 4 Personen", "4-person tent"), "es": ("casa de campaña 4 personas", "4 person tent"),
        "ko": ("4인용 텐트", "4 person tent"), "ja": ("テント 4人用", "tent for 4 people"),
    }),
    Intent("anti-colic baby bottle", "baby", pos=[
        "Anti Colic Baby Bottle 260ml Wide Neck PP",
        "Philips Avent Anti-colic Baby Bottle 125ml 2 Pack",
    ], hard=[
        "Baby Bottle Sterilizer and Dryer UV",
        "Silicone Baby Feeding Set Bowl Spoon",
        "Stainless Steel Water Bottle Kids 500ml",
    ], queries={
        "en": "anti colic baby bottle", "pt": "mamadeira anticólica", "es": "biberon anticolicos",
        "ko": ("젖병", "baby bottle"), "ja": ("哺乳瓶", "baby bottle"), "th": ("ขวดนมเด็ก", "baby bottle"),
    }),
    Intent("newborn diapers", "baby", pos=[
        "Pampers Swaddlers Newborn Diapers Size 0, 84 Count",
        "Huggies Little Snugglers Baby Diapers Newborn",
    ], hard=[
        "Baby Diapers Size 5 (27+ lbs) 100 Count",
        "Baby Wipes Unscented 12 Packs",
    ], queries={
        "en": "newborn diapers", "pt": ("fralda recém nascido", "newborn diaper"), "es": "pañales recien nacido",
        "ja": "おむつ 新生児", "th": "ผ้าอ้อมเด็กแรกเกิด", "vi": ("bỉm sơ sinh", "newborn diapers"),
    }),
    Intent("cordless drill", "tools", pos=[
        "20V Cordless Drill Driver Kit with 2 Batteries and Charger",
        "Bosch Professional GSR 18V-55 Cordless Drill Driver",
        "Makita 18V LXT Brushless Cordless Drill",
    ], hard=[
        "Corded Hammer Drill 850W",
        "Drill Bit Set 100 Pieces Titanium",
        "Precision Screwdriver Set 25 in 1",
    ], queries={
        "en": "cordless drill", "es": "taladro inalambrico",
        "pt": ("parafusadeira e furadeira sem fio", "cordless drill driver"),
        "fr": ("perceuse visseuse sans fil", "cordless drill driver"),
        "de": ("Akkuschrauber", "cordless drill driver"), "ko": "무선 전동드릴",
        "th": ("สว่านไร้สาย", "cordless drill"),
    }),
    Intent("digital multimeter", "tools", pos=[
        "Digital Multimeter Auto Ranging True RMS Voltage Tester",
        "ANENG AN8008 Digital Multimeter 9999 Counts",
    ], hard=[
        "Non-Contact Voltage Tester Pen",
        "Soldering Iron Kit 60W Adjustable Temperature",
    ], queries={
        "en": "digital multimeter", "es": "multimetro digital", "pt": "multímetro digital",
        "ko": "디지털 멀티미터", "ja": "デジタルマルチメーター", "vi": ("đồng hồ vạn năng", "multimeter"),
    }),
    Intent("front and rear dash cam", "car", pos=[
        "Dash Cam Front and Rear 1080P Car DVR with Night Vision",
        "70mai Dash Cam Pro Plus+ A500S Set Front and Rear",
    ], hard=[
        "Backup Camera for Car Rear View Wireless",
        "GoPro HERO11 Black Action Camera",
        "Car Phone Holder Magnetic Dashboard",
    ], queries={
        "en": "dash cam front and rear", "ko": ("블랙박스 2채널", "2-channel dash cam"),
        "ja": ("ドライブレコーダー 前後", "front and rear dash cam"),
        "es": ("camara para auto frontal y trasera", "front and rear car camera"),
        "th": ("กล้องติดรถยนต์ หน้าหลัง", "front and rear car camera"),
        "vi": ("camera hành trình trước sau", "front and rear dash cam"),
    }),
    Intent("h4 led headlight bulbs", "car", pos=[
        "H4 LED Headlight Bulbs 6000K 20000LM Hi/Lo Beam 2 Pcs",
        "Philips Ultinon H4 LED Car Headlight Bulb",
    ], hard=[
        "H7 LED Headlight Bulbs 6000K 2 Pcs",
        "H4 Halogen Bulb 12V 60/55W",
        "LED Strip Lights for Car Interior",
    ], queries={
        "en": "h4 led headlight bulbs", "es": ("focos led h4", "h4 led bulbs"),
        "pt": ("lâmpada led h4", "h4 led bulb"), "fr": ("ampoule led h4", "h4 led bulb"),
        "id": ("lampu led h4", "h4 led bulb"), "th": ("หลอดไฟหน้า led h4", "h4 led headlight bulb"),
    }),
    Intent("car seat covers", "car", pos=[
        "Universal Car Seat Covers Full Set PU Leather 5 Seats",
        "Breathable Mesh Front Seat Covers for Cars 2 Pcs",
    ], hard=[
        "Baby Car Seat Group 0+ Rear Facing",
        "Car Steering Wheel Cover Leather",
        "Car Floor Mats All Weather",
    ], queries={
        "en": "car seat covers", "es": "fundas para asientos de coche", "pt": ("capa de banco carro", "car seat cover"),
        "fr": ("housse siège voiture", "car seat cover"), "th": "ชุดหุ้มเบาะรถยนต์",
    }),
    Intent("smart watch with calling", "watch", pos=[
        "Smart Watch with Bluetooth Call 1.85\" Fitness Tracker Heart Rate",
        "Samsung Galaxy Watch6 Bluetooth 44mm Smartwatch",
    ], hard=[
        "Sport Loop Band for Apple Watch 45mm",
        "Men's Automatic Mechanical Watch Stainless Steel",
    ], queries={
        "en": "smart watch with call", "es": "reloj inteligente con llamadas", "pt": "smartwatch com chamada",
        "ja": ("スマートウォッチ 通話", "smartwatch calling"), "ko": ("통화 스마트워치", "calling smartwatch"),
        "th": ("สมาร์ทวอทช์ โทรได้", "smartwatch that can make calls"),
        "id": ("smartwatch bisa telpon", "smartwatch that can make calls"),
        "vi": ("đồng hồ thông minh nghe gọi", "smartwatch with calling"),
    }),
    Intent("apple watch band", "watch", pos=[
        "Sport Loop Band for Apple Watch 45mm 44mm 42mm Nylon Strap",
        "Silicone Sport Band Compatible with Apple Watch Series 9 8 7 SE",
    ], hard=[
        "Samsung Galaxy Watch Band 20mm Silicone",
        "Apple Watch Series 9 GPS 45mm",
        "Screen Protector Case for Apple Watch 45mm",
    ], queries={
        "en": "apple watch band", "fr": "bracelet apple watch", "ja": ("アップルウォッチ バンド", "apple watch band"),
        "ko": ("애플워치 스트랩", "apple watch strap"), "pt": "pulseira apple watch", "de": "Apple Watch Armband",
    }),
    Intent("men's automatic watch", "watch", pos=[
        "Seiko 5 Sports Automatic Men's Watch SRPD55",
        "Men's Automatic Mechanical Skeleton Watch Stainless Steel",
    ], hard=[
        "Casio Men's Quartz Digital Watch",
        "Watch Winder for Automatic Watches Single",
        "Women's Automatic Watch Rose Gold",
    ], queries={
        "en": "automatic watch men", "ja": ("機械式腕時計 メンズ", "men's mechanical watch"),
        "de": "Automatikuhr Herren", "es": "reloj automatico hombre", "pt": "relógio automático masculino",
    }),
    Intent("gold hoop earrings", "jewelry", pos=[
        "14K Gold Plated Hoop Earrings for Women Lightweight",
        "18K Gold Small Huggie Hoop Earrings",
    ], hard=[
        "Silver Hoop Earrings 925 Sterling",
        "Gold Stud Earrings Cubic Zirconia",
        "Gold Chain Necklace 18K",
    ], queries={
        "en": "gold hoop earrings", "es": "aretes de argolla dorados", "fr": "boucles d'oreilles créoles dorées",
        "pt": "brinco de argola dourado", "ja": ("フープピアス ゴールド", "gold hoop earrings"),
        "ko": ("골드 링 귀걸이", "gold hoop earrings"), "th": "ต่างหูห่วงทอง",
    }),
    Intent("lego technic car", "toys", pos=[
        "LEGO Technic Porsche 911 GT3 RS 42056",
        "LEGO Technic Lamborghini Sián FKP 37 Building Set 42115",
    ], hard=[
        "LEGO City Police Station 60316",
        "RC Drift Car 1:16 4WD Remote Control",
    ], queries={
        "en": "lego technic car", "es": ("lego technic coche", "lego technic car"),
        "pt": ("lego technic carro", "lego technic car"), "de": ("Lego Technic Auto", "lego technic car"),
        "ko": ("레고 테크닉 자동차", "lego technic car"), "ja": ("レゴ テクニック 車", "lego technic car"),
    }),
    Intent("stitch plush", "toys", pos=[
        "Disney Stitch Plush Toy 30cm Soft Stuffed Doll",
        "Lilo & Stitch Giant Stitch Plush Pillow 50cm",
    ], hard=[
        "Stitch Phone Case for iPhone 14",
        "Pikachu Plush Toy 25cm",
        "Stitch Pajamas Kigurumi Adult",
    ], queries={
        "en": "stitch plush", "es": "peluche stitch", "pt": "pelúcia stitch", "ko": ("스티치 인형", "stitch plush"),
        "th": ("ตุ๊กตาสติช", "stitch plush"), "id": ("boneka stitch", "stitch plush"),
    }),
    Intent("girls party dress", "kids", pos=[
        "Girls Princess Tulle Party Dress Flower Girl Dress 4-12 Years",
        "Kids Girls Sequin Birthday Party Dress",
    ], hard=[
        "Women's Cocktail Party Dress Bodycon",
        "Boys Formal Suit Set 4 Pcs",
    ], queries={
        "en": "girls party dress", "es": "vestido de fiesta para niña", "fr": ("robe de soirée fille", "girls party dress"),
        "pt": ("vestido de festa infantil", "children's party dress"),
        "vi": ("váy dự tiệc bé gái", "girls party dress"),
    }),
]  # fmt: skip

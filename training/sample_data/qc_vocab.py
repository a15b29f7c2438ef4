# ruff: noqa: E501  (data tables: one category path or intent per line reads better than wrapped)
"""Curated vocabulary for the QC sample: a category taxonomy and search intents with their queries.

Written for this project (CC0, see README.md). Each intent lists the category paths that are relevant
to it (`rel`) and hard negatives (`hard`): categories under the same top level with the wrong leaf, or a
plausible but wrong category elsewhere (a necklace for "collar para perro", vacuum spare parts for
"robot vacuum"). Queries are per language; a plain string means its English translation is the intent's
gloss, a (query, english) pair gives the translation explicitly.
"""

from __future__ import annotations

# Leaf key -> category path (lowercase, levels joined by "," without spaces; a level may itself
# contain ", " as in the real taxonomy: "kitchen, dining & bar", "automobiles, parts & accessories").
TAXONOMY: dict[str, str] = {
    # luggage & bags
    "waist": "luggage & bags,women's handbags,waist packs",
    "shoulder": "luggage & bags,women's handbags,shoulder bags",
    "tote": "luggage & bags,women's handbags,top-handle bags",
    "crossbody_m": "luggage & bags,men's bags,crossbody bags",
    "school_bag": "luggage & bags,backpacks,school bags",
    "laptop_backpack": "luggage & bags,backpacks,laptop backpacks",
    "wallet_m": "luggage & bags,wallets,men's wallets",
    "wallet_w": "luggage & bags,wallets,women's wallets",
    "carry_on": "luggage & bags,luggage & travel bags,rolling luggage",
    "cosmetic_bag": "luggage & bags,functional bags,cosmetic bags & cases",
    # phones & telecommunications
    "case_fitted": "phones & telecommunications,mobile phone accessories,phone cases & covers,fitted cases",
    "case_flip": "phones & telecommunications,mobile phone accessories,phone cases & covers,flip cases",
    "screen_prot": "phones & telecommunications,mobile phone accessories,screen protectors,phone screen protectors",
    "phone_charger": "phones & telecommunications,mobile phone accessories,mobile phone chargers",
    "phone_cable": "phones & telecommunications,mobile phone accessories,mobile phone cables",
    "phone_holder": "phones & telecommunications,mobile phone accessories,holders & stands",
    "power_bank": "phones & telecommunications,mobile phone accessories,power bank",
    "smartphone": "phones & telecommunications,mobile phones,smartphones",
    "phone_lcd": "phones & telecommunications,mobile phone parts,mobile phone lcds",
    # consumer electronics
    "bt_earphones": "consumer electronics,portable audio & video,earphones & headphones,bluetooth earphones & headphones",
    "earphone_case": "consumer electronics,portable audio & video,earphone accessories,earphone cases",
    "speaker": "consumer electronics,portable audio & video,speakers,portable speakers",
    "smartwatch": "consumer electronics,smart electronics,wearable devices,smart watches",
    "smart_band": "consumer electronics,smart electronics,wearable devices,smart wristbands",
    "smart_strap": "consumer electronics,smart electronics,smart wearable accessories,smart watch bands",
    "action_cam": "consumer electronics,camera & photo,sports & action video cameras",
    "tripod": "consumer electronics,camera & photo,photo studio accessories,tripods",
    "gamepad": "consumer electronics,video games,gamepads",
    "projector": "consumer electronics,home audio & video,projectors",
    # computer & office
    "keyboard": "computer & office,mouse & keyboards,keyboards",
    "mouse": "computer & office,mouse & keyboards,mice",
    "mousepad": "computer & office,mouse & keyboards,mouse pads",
    "laptop_bag": "computer & office,laptop accessories,laptop bags & cases",
    "laptop_stand": "computer & office,laptop accessories,laptop stands",
    "ssd": "computer & office,computer components,internal solid state drives",
    "usb_drive": "computer & office,external storage,usb flash drives",
    "usb_hub": "computer & office,computer cables & connectors,usb hubs",
    "pc_cable": "computer & office,computer cables & connectors,usb cables",
    # women's clothing
    "w_casual_dress": "women's clothing,dresses,casual dresses",
    "w_evening_dress": "women's clothing,dresses,evening dresses",
    "w_tshirt": "women's clothing,tops & tees,t-shirts",
    "w_jeans": "women's clothing,bottoms,jeans",
    "w_skirt": "women's clothing,bottoms,skirts",
    "w_bikini": "women's clothing,swimwear,bikini sets",
    "w_cardigan": "women's clothing,sweaters,cardigans",
    "w_hoodie": "women's clothing,hoodies & sweatshirts,hoodies",
    "w_parka": "women's clothing,outerwear & jackets,parkas",
    # men's clothing
    "m_tshirt": "men's clothing,tops & tees,t-shirts",
    "m_hoodie": "men's clothing,hoodies & sweatshirts,hoodies",
    "m_cargo": "men's clothing,pants,cargo pants",
    "m_jeans": "men's clothing,pants,jeans",
    "m_down": "men's clothing,jackets & coats,down jackets",
    "m_blazer": "men's clothing,suits & blazers,blazers",
    "m_swim": "men's clothing,swimwear,board shorts",
    # sports shoes
    "run_m": "sports shoes,running shoes,men's running shoes",
    "run_w": "sports shoes,running shoes,women's running shoes",
    "basket": "sports shoes,basketball shoes,men's basketball shoes",
    "hiking": "sports shoes,hiking shoes,men's hiking shoes",
    "skate_w": "sports shoes,skateboarding shoes,women's skateboarding shoes",
    # shoes
    "pumps": "shoes,women's shoes,pumps",
    "ankle_boots": "shoes,women's shoes,boots,ankle boots",
    "w_sandals": "shoes,women's shoes,sandals",
    "loafers": "shoes,men's shoes,loafers",
    "formal_m": "shoes,men's shoes,formal shoes",
    # home & garden
    "pan": "home & garden,kitchen, dining & bar,cookware,pans,frying pans",
    "flask": "home & garden,kitchen, dining & bar,drinkware,vacuum flasks & thermoses",
    "knife": "home & garden,kitchen, dining & bar,kitchen knives & accessories,kitchen knives,chef knives",
    "bedding": "home & garden,home textile,bedding,bedding sets",
    "curtain": "home & garden,home textile,window treatments,curtains",
    "storage_box": "home & garden,home storage & organization,storage boxes & bins",
    "hose": "home & garden,garden supplies,watering & irrigation,garden hoses",
    "wall_sticker": "home & garden,home decor,wall stickers",
    "artificial_plant": "home & garden,home decor,artificial plants",
    "dog_collar": "home & garden,pet products,dog supplies,dog collars & leads,collars",
    "cat_toy": "home & garden,pet products,cat supplies,cat toys",
    # beauty & health
    "sunscreen": "beauty & health,skin care,sun care,sunscreen",
    "serum": "beauty & health,skin care,face,facial serums",
    "lipstick": "beauty & health,makeup,lips,lipstick",
    "mascara": "beauty & health,makeup,eyes,mascara",
    "nail_gel": "beauty & health,nail art & tools,nail gel",
    "straightener": "beauty & health,hair care & styling,styling tools,hair straighteners",
    "perfume": "beauty & health,fragrances & deodorants,perfume",
    "shaver": "beauty & health,shaving & hair removal,electric shavers",
    # jewelry & accessories
    "pendant": "jewelry & accessories,necklaces & pendants,pendant necklaces",
    "studs": "jewelry & accessories,earrings,stud earrings",
    "wedding_band": "jewelry & accessories,rings,wedding bands",
    "charm_bracelet": "jewelry & accessories,bracelets & bangles,charm bracelets",
    "hair_clip": "jewelry & accessories,hair jewelry,hair clips",
    # watches
    "mech_watch": "watches,men's watches,mechanical watches",
    "quartz_w": "watches,women's watches,quartz watches",
    "watchband": "watches,watch accessories,watchbands",
    # toys & hobbies
    "blocks": "toys & hobbies,building & construction toys,blocks",
    "rc_car": "toys & hobbies,remote control toys,rc cars,rc drift cars",
    "doll": "toys & hobbies,dolls & accessories,dolls",
    "jigsaw": "toys & hobbies,puzzles & games,puzzles,jigsaw puzzles",
    "figure": "toys & hobbies,action & toy figures,action figures",
    "plush": "toys & hobbies,stuffed animals & plush,stuffed & plush animals",
    # automobiles, parts & accessories
    "seat_cover": "automobiles, parts & accessories,interior accessories,seat covers & supports,automobiles seat covers",
    "dash_cam": "automobiles, parts & accessories,car electronics,dash cameras",
    "car_holder": "automobiles, parts & accessories,car electronics,car phone holders",
    "car_charger": "automobiles, parts & accessories,car electronics,car chargers",
    "led_bulb": "automobiles, parts & accessories,car lights,headlights,car headlight bulbs (led)",
    "wiper": "automobiles, parts & accessories,exterior accessories,windshield wipers",
    # sports & entertainment
    "yoga_mat": "sports & entertainment,fitness & body building,yoga,yoga mats",
    "bands": "sports & entertainment,fitness & body building,fitness equipment,resistance bands",
    "bike_helmet": "sports & entertainment,cycling,cycling helmets",
    "reel": "sports & entertainment,fishing,fishing reels",
    "tent": "sports & entertainment,camping & hiking,tents",
    "goggles": "sports & entertainment,swimming,swimming goggles",
    # mother & kids
    "baby_bottle": "mother & kids,feeding,baby bottles",
    "stroller": "mother & kids,activity & gear,strollers",
    "diapers": "mother & kids,diapering & toilet training,disposable diapers",
    "girls_dress": "mother & kids,children's clothing,girls' clothing,dresses",
    "kids_shoes": "mother & kids,children's shoes,sneakers",
    # tools
    "drill": "tools,power tools,electric drills",
    "screwdriver": "tools,hand tools,screwdriver sets",
    "multimeter": "tools,measurement & analysis instruments,digital multimeters",
    "solder": "tools,welding & soldering supplies,soldering irons",
    # home appliances
    "air_fryer": "home appliances,kitchen appliances,air fryers",
    "coffee_maker": "home appliances,kitchen appliances,coffee makers",
    "robot_vac": "home appliances,cleaning appliances,robot vacuums",
    "vac_parts": "home appliances,home appliance parts,vacuum cleaner parts",
    "hair_dryer": "home appliances,personal care appliances,hair dryers",
    "humidifier": "home appliances,household appliances,humidifiers",
}

# Leaves that overlap another top level's intents (a car phone holder is also a phone holder): never
# drawn as an "easy" random negative, only used where an intent lists them.
AMBIGUOUS_LEAVES = {"car_holder", "car_charger", "earphone_case", "laptop_bag", "girls_dress", "kids_shoes",
                    "smart_strap", "watchband", "pc_cable", "phone_cable"}  # fmt: skip

Query = str | tuple[str, str]

# (english gloss, relevant leaves, hard-negative leaves, queries by language)
INTENTS: list[tuple[str, list[str], list[str], dict[str, Query]]] = [
    ("waist bag", ["waist"], ["shoulder", "crossbody_m", "cosmetic_bag"], {
        "en": "waist bag", "es": ("riñonera mujer", "women's waist bag"), "ja": "ウエストポーチ",
        "ko": "힙색", "pt": "pochete", "de": "Bauchtasche"}),
    ("pokemon backpack", ["school_bag"], ["shoulder", "waist", "plush"], {
        "ja": "ポケモン リュック", "en": "pokemon backpack", "es": "mochila pokemon"}),
    ("men's leather wallet", ["wallet_m"], ["wallet_w", "crossbody_m"], {
        "en": "mens leather wallet", "es": "cartera hombre piel", "fr": "portefeuille homme cuir",
        "ko": "남자 가죽 지갑", "ar": "محفظة رجالية جلد"}),
    ("small wallet", ["wallet_m", "wallet_w"], ["cosmetic_bag", "waist"], {
        "ja": "ミニ財布", "pt": "carteira pequena", "it": "portafoglio piccolo", "en": "mini wallet"}),
    ("cabin suitcase", ["carry_on"], ["laptop_backpack", "school_bag"], {
        "en": "carry on suitcase 20 inch", "fr": "valise cabine", "es": "maleta de cabina",
        "pl": "walizka kabinowa", "ko": "기내용 캐리어"}),
    ("makeup bag", ["cosmetic_bag"], ["tote", "waist"], {
        "en": "travel makeup bag", "ko": "화장품 파우치", "fr": "trousse de maquillage", "pt": "necessaire"}),
    ("laptop backpack", ["laptop_backpack", "laptop_bag"], ["carry_on", "shoulder", "laptop_stand"], {
        "en": "laptop backpack 15.6", "es": "mochila para portatil",
        "ja": ("リュック メンズ パソコン", "men's laptop backpack")}),
    ("school backpack", ["school_bag"], ["carry_on", "cosmetic_bag", "plush"], {
        "pt": "mochila escolar", "fr": ("cartable enfant", "children's school bag"), "ar": "حقيبة مدرسية", "en": "school backpack"}),
    ("women's handbag", ["shoulder", "tote"], ["wallet_w", "waist", "crossbody_m"], {
        "es": "bolso de mujer", "fr": "sac à main femme", "pt": "bolsa feminina", "en": "womens handbag"}),
    ("women's shoulder bag", ["shoulder"], ["wallet_w", "school_bag"], {
        "ko": "여성 숄더백", "it": "borsa a tracolla donna", "ja": "ショルダーバッグ レディース"}),
    ("iphone 13 case", ["case_fitted", "case_flip"], ["screen_prot", "smartphone", "earphone_case"], {
        "en": "iphone 13 case", "es": "funda iphone 13", "ja": "iphone13 ケース", "ko": "아이폰13 케이스",
        "pt": "capinha iphone 13", "de": "iPhone 13 Hülle"}),
    ("galaxy s23 wallet case", ["case_flip"], ["case_fitted", "wallet_w", "phone_lcd"], {
        "en": "galaxy s23 wallet case", "fr": "étui portefeuille galaxy s23", "ko": "갤럭시 s23 지갑 케이스"}),
    ("tempered glass screen protector", ["screen_prot"], ["case_fitted", "phone_lcd"], {
        "en": "tempered glass screen protector", "es": "protector de pantalla cristal templado",
        "ja": ("ガラスフィルム スマホ", "glass screen protector film for smartphones"), "ko": "강화유리 필름", "pt": "película de vidro"}),
    ("fast charger", ["phone_charger"], ["phone_cable", "power_bank"], {
        "en": "fast charger usb c", "pt": "carregador turbo", "es": "cargador rapido", "ko": "고속 충전기"}),
    ("usb c cable", ["phone_cable", "pc_cable"], ["phone_charger", "usb_hub"], {
        "en": "usb c cable 2m", "fr": "câble usb c", "ja": "usb-c ケーブル", "it": "cavo usb c",
        "pl": "kabel usb c"}),
    ("desk phone stand", ["phone_holder"], ["laptop_stand", "case_fitted"], {
        "en": "phone stand for desk", "es": "soporte movil mesa", "ko": "탁상용 핸드폰 거치대"}),
    ("car phone holder", ["car_holder", "phone_holder"], ["dash_cam", "seat_cover"], {
        "en": "car phone holder magnetic", "es": "soporte movil coche", "fr": "support téléphone voiture",
        "pt": "suporte celular carro", "ar": "حامل جوال للسيارة"}),
    ("power bank", ["power_bank"], ["phone_charger", "phone_cable"], {
        "en": "power bank 20000mah", "ja": "モバイルバッテリー", "ko": "보조배터리", "fr": "batterie externe"}),
    ("xiaomi redmi note 12", ["smartphone"], ["case_fitted", "screen_prot", "phone_lcd"], {
        "en": "xiaomi redmi note 12", "es": ("celular xiaomi redmi note 12", "xiaomi redmi note 12 phone"),
        "pl": ("smartfon xiaomi redmi note 12", "xiaomi redmi note 12 smartphone")}),
    ("iphone x screen replacement", ["phone_lcd"], ["screen_prot", "smartphone"], {
        "en": "iphone x screen replacement", "es": "pantalla iphone x repuesto", "pt": ("tela iphone x", "iphone x screen")}),
    ("wireless earbuds", ["bt_earphones"], ["earphone_case", "speaker"], {
        "en": "wireless earbuds", "es": "audifonos inalambricos", "fr": "écouteurs sans fil",
        "ja": "ワイヤレスイヤホン", "ko": "무선 이어폰", "de": ("kabellose Kopfhörer", "wireless headphones"),
        "ar": ("سماعات بلوتوث", "bluetooth earphones")}),
    ("airpods pro case", ["earphone_case"], ["bt_earphones", "case_fitted"], {
        "en": "airpods pro case", "ko": "에어팟 프로 케이스", "ja": "airpods pro ケース",
        "es": "funda airpods pro"}),
    ("portable bluetooth speaker", ["speaker"], ["bt_earphones", "projector"], {
        "en": "portable bluetooth speaker waterproof", "pt": "caixa de som bluetooth",
        "fr": "enceinte bluetooth portable", "it": "cassa bluetooth"}),
    ("smart watch", ["smartwatch"], ["smart_band", "mech_watch", "smart_strap"], {
        "en": "smart watch women", "es": "reloj inteligente", "ja": "スマートウォッチ", "ko": "스마트워치",
        "pt": "relógio smartwatch", "ar": "ساعة ذكية"}),
    ("apple watch band", ["smart_strap", "watchband"], ["smartwatch", "charm_bracelet"], {
        "en": "apple watch band", "fr": "bracelet apple watch", "ja": "アップルウォッチ バンド",
        "ko": "애플워치 스트랩"}),
    ("gopro hero 11", ["action_cam"], ["tripod", "dash_cam"], {
        "en": "gopro hero 11", "es": ("camara deportiva 4k", "4k action camera"),
        "ko": ("액션캠", "action cam")}),
    ("phone tripod", ["tripod"], ["action_cam", "speaker"], {
        "en": "phone tripod with remote", "pt": "tripé para celular", "ja": "三脚 スマホ"}),
    ("ps5 controller", ["gamepad"], ["keyboard", "projector"], {
        "en": "ps5 controller", "es": "mando ps5", "fr": "manette ps5", "pt": "controle ps5",
        "it": "controller ps5", "ja": "ps5 コントローラー"}),
    ("mini projector", ["projector"], ["speaker", "action_cam"], {
        "en": "mini projector 1080p", "ko": "미니 빔프로젝터", "es": ("proyector portatil", "portable projector")}),
    ("mechanical keyboard", ["keyboard"], ["mouse", "mousepad", "gamepad"], {
        "en": "mechanical keyboard 75%", "ja": "メカニカルキーボード", "ko": "기계식 키보드",
        "fr": "clavier mécanique", "de": "mechanische Tastatur"}),
    ("wireless mouse", ["mouse"], ["keyboard", "mousepad"], {
        "en": "silent wireless mouse", "es": "raton inalambrico", "pt": "mouse sem fio",
        "pl": "mysz bezprzewodowa"}),
    ("large mouse pad", ["mousepad"], ["mouse", "laptop_stand"], {
        "ko": ("장패드", "large desk mouse pad"), "en": "xxl desk mat", "fr": "tapis de souris xxl"}),
    ("laptop stand", ["laptop_stand"], ["phone_holder", "laptop_bag"], {
        "en": "adjustable laptop stand", "es": "soporte para portatil", "ja": "ノートパソコンスタンド"}),
    ("1tb nvme ssd", ["ssd"], ["usb_drive", "usb_hub"], {
        "en": "nvme ssd 1tb", "pt": "ssd nvme 1tb", "ko": "nvme ssd 1테라"}),
    ("usb flash drive", ["usb_drive"], ["ssd", "pc_cable"], {
        "en": "usb flash drive 64gb", "es": ("memoria usb 64gb", "64gb usb flash drive"), "fr": ("clé usb 64go", "64gb usb flash drive"),
        "ar": ("فلاشة 64 جيجا", "64gb flash drive")}),
    ("usb c hub hdmi", ["usb_hub"], ["pc_cable", "phone_charger"], {
        "en": "usb c hub hdmi", "ja": "usb-c ハブ hdmi", "de": ("USB-C Hub mit HDMI", "usb-c hub with hdmi")}),
    ("summer dress", ["w_casual_dress"], ["w_evening_dress", "w_skirt", "w_cardigan"], {
        "en": "floral summer dress", "es": "vestido de verano", "fr": "robe d'été", "pt": "vestido de verão",
        "ja": "ワンピース 夏", "ko": "여름 원피스", "it": "vestito estivo"}),
    ("long evening dress", ["w_evening_dress"], ["w_casual_dress", "w_skirt"], {
        "en": "long evening gown", "fr": "robe de soirée longue", "es": "vestido de noche largo",
        "ar": "فستان سهرة طويل"}),
    ("oversized t-shirt", ["w_tshirt", "m_tshirt"], ["w_hoodie", "m_hoodie"], {
        "en": "oversized t-shirt", "ko": "오버핏 티셔츠", "pt": "camiseta oversized", "es": "camiseta oversize"}),
    ("women's t-shirt", ["w_tshirt"], ["m_tshirt", "w_cardigan"], {
        "fr": "t-shirt femme", "ja": "tシャツ レディース", "pl": "koszulka damska"}),
    ("high waisted women's jeans", ["w_jeans"], ["m_jeans", "w_skirt"], {
        "en": "high waisted jeans women", "es": "jeans tiro alto mujer",
        "pt": "calça jeans feminina cintura alta", "ko": ("하이웨스트 청바지", "high waisted jeans")}),
    ("pleated skirt", ["w_skirt"], ["w_casual_dress", "w_jeans"], {
        "en": "pleated midi skirt", "ja": "プリーツスカート", "ko": "플리츠 스커트", "fr": "jupe plissée"}),
    ("high waisted bikini", ["w_bikini"], ["m_swim", "w_casual_dress", "goggles"], {
        "en": "high waist bikini set", "es": "bikini tiro alto", "pt": ("biquíni", "bikini"),
        "it": "bikini a vita alta"}),
    ("hoodie", ["m_hoodie", "w_hoodie"], ["m_tshirt", "m_down", "w_parka"], {
        "en": "zip up hoodie", "fr": "sweat à capuche", "ja": "パーカー", "de": "Kapuzenpullover"}),
    ("men's cargo pants", ["m_cargo"], ["m_jeans", "w_jeans"], {
        "en": "cargo pants men", "es": "pantalon cargo hombre", "ko": "남자 카고바지",
        "pt": "calça cargo masculina", "pl": "spodnie bojówki męskie"}),
    ("men's down jacket", ["m_down"], ["m_blazer", "w_parka", "m_hoodie"], {
        "en": "mens puffer jacket", "fr": "doudoune homme", "ja": "ダウンジャケット メンズ",
        "ko": ("남자 패딩", "men's padded jacket")}),
    ("women's winter parka", ["w_parka"], ["m_down", "w_cardigan"], {
        "es": "parka mujer invierno", "de": "Damen Winterparka", "ko": ("여성 롱패딩", "women's long puffer coat")}),
    ("men's blazer", ["m_blazer"], ["m_down", "formal_m"], {
        "en": "slim fit blazer men", "es": "blazer hombre", "it": ("giacca uomo elegante", "men's formal jacket")}),
    ("men's swim shorts", ["m_swim"], ["w_bikini", "m_cargo"], {
        "en": "mens swim trunks", "pt": "short de praia masculino", "fr": "short de bain homme"}),
    ("running shoes", ["run_m", "run_w"], ["basket", "hiking", "skate_w"], {
        "en": "running shoes", "es": "zapatillas running", "ja": "ランニングシューズ", "ko": "런닝화",
        "it": "scarpe da corsa", "ar": "حذاء جري"}),
    ("women's running shoes", ["run_w"], ["run_m", "skate_w", "w_sandals"], {
        "pt": "tênis de corrida feminino", "fr": "chaussures de running femme", "pl": "buty do biegania damskie",
        "en": "womens running shoes"}),
    ("men's running shoes", ["run_m"], ["run_w", "basket"], {
        "de": "Laufschuhe Herren", "ko": "남자 러닝화", "en": "mens running shoes"}),
    ("basketball shoes", ["basket"], ["run_m", "hiking"], {
        "en": "basketball shoes", "es": "tenis de basquetbol", "ja": "バスケットシューズ"}),
    ("men's waterproof hiking shoes", ["hiking"], ["ankle_boots", "run_m"], {
        "en": "waterproof hiking boots men", "fr": "chaussures de randonnée homme",
        "de": "Wanderschuhe Herren wasserdicht", "es": "botas de montaña hombre"}),
    ("black high heels", ["pumps"], ["ankle_boots", "w_sandals", "loafers"], {
        "en": "black stiletto heels", "es": "tacones negros", "fr": "escarpins noirs",
        "ja": ("パンプス 黒", "black pumps"), "ko": "검정 하이힐"}),
    ("women's ankle boots", ["ankle_boots"], ["pumps", "hiking"], {
        "fr": "bottines femme", "it": "stivaletti donna", "pt": "bota cano curto feminina"}),
    ("women's sandals", ["w_sandals"], ["pumps", "ankle_boots"], {
        "es": "sandalias mujer", "ko": "여성 샌들", "ar": "صنادل نسائية", "en": "womens sandals"}),
    ("men's leather loafers", ["loafers"], ["basket", "run_m"], {
        "en": "mens leather loafers", "it": "mocassini uomo", "pt": "mocassim masculino"}),
    ("non-stick frying pan", ["pan"], ["knife", "flask", "air_fryer"], {
        "en": "non stick frying pan 28cm", "es": "sarten antiadherente", "fr": "poêle antiadhésive",
        "ja": ("フライパン", "frying pan"), "ko": ("프라이팬", "frying pan"), "pl": "patelnia nieprzywierająca"}),
    ("vacuum flask", ["flask"], ["pan", "baby_bottle"], {
        "en": "stainless steel thermos", "ja": ("ステンレス 水筒 保温", "insulated stainless steel water bottle"),
        "ko": ("보온병", "thermos"), "pt": ("garrafa térmica", "thermos bottle")}),
    ("chef's knife", ["knife"], ["pan", "screwdriver"], {
        "en": "japanese chef knife", "fr": ("couteau de cuisine", "kitchen knife"),
        "de": ("Küchenmesser Set", "kitchen knife set")}),
    ("bedding set", ["bedding"], ["curtain", "plush"], {
        "en": "queen size bedding set", "es": ("juego de sabanas matrimonial", "double bed sheet set"),
        "pt": ("jogo de cama casal", "double bed set"), "ar": ("طقم مفارش سرير", "bedspread set")}),
    ("blackout curtains", ["curtain"], ["bedding", "wall_sticker"], {
        "en": "blackout curtains bedroom", "fr": "rideaux occultants", "ko": "암막 커튼", "it": "tende oscuranti"}),
    ("storage box", ["storage_box"], ["cosmetic_bag", "hose"], {
        "ja": "収納ボックス", "en": "foldable storage box", "es": ("caja organizadora", "organizer box")}),
    ("garden hose", ["hose"], ["storage_box", "artificial_plant"], {
        "en": "expandable garden hose", "de": "Gartenschlauch", "fr": "tuyau d'arrosage"}),
    ("wall stickers", ["wall_sticker"], ["curtain", "artificial_plant"], {
        "en": "wall stickers living room", "pt": "adesivo de parede", "ko": "벽 스티커"}),
    ("dog collar", ["dog_collar"], ["cat_toy", "pendant"], {
        "en": "leather dog collar", "es": "collar para perro", "fr": "collier pour chien", "ja": "犬 首輪"}),
    ("cat toy", ["cat_toy"], ["dog_collar", "plush"], {
        "en": "interactive cat toy", "ko": "고양이 장난감", "pt": "brinquedo para gato"}),
    ("spf 50 sunscreen", ["sunscreen"], ["serum", "lipstick"], {
        "en": "spf 50 sunscreen", "ko": ("선크림", "sunscreen"), "ja": ("日焼け止め", "sunscreen"),
        "es": "protector solar spf 50", "fr": "crème solaire spf 50"}),
    ("matte lipstick", ["lipstick"], ["mascara", "nail_gel"], {
        "en": "matte liquid lipstick", "fr": "rouge à lèvres mat", "pt": "batom matte",
        "ar": "احمر شفاه مطفي", "ko": "매트 립스틱"}),
    ("waterproof mascara", ["mascara"], ["lipstick", "serum"], {
        "es": "mascara de pestañas a prueba de agua", "it": "mascara waterproof", "ja": "マスカラ ウォータープルーフ"}),
    ("gel nail polish", ["nail_gel"], ["lipstick", "perfume"], {
        "en": "gel nail polish set", "pt": "esmalte em gel", "ko": "젤네일", "pl": "lakier hybrydowy"}),
    ("hair straightener", ["straightener"], ["hair_dryer", "shaver"], {
        "en": "ceramic hair straightener", "es": "plancha de pelo", "fr": "lisseur cheveux", "pt": "chapinha"}),
    ("hair dryer", ["hair_dryer"], ["straightener", "humidifier"], {
        "en": "ionic hair dryer", "ja": "ドライヤー", "ko": "드라이기", "es": "secador de pelo"}),
    ("vitamin c serum", ["serum"], ["sunscreen", "perfume"], {
        "en": "vitamin c serum", "ko": "비타민c 세럼", "fr": "sérum vitamine c"}),
    ("women's perfume", ["perfume"], ["lipstick", "serum"], {
        "ar": "عطر نسائي", "es": "perfume mujer", "it": "profumo donna"}),
    ("men's electric shaver", ["shaver"], ["straightener", "hair_dryer"], {
        "en": "electric shaver men", "de": "Elektrorasierer Herren", "pt": "barbeador elétrico masculino"}),
    ("silver heart necklace", ["pendant"], ["studs", "charm_bracelet", "wedding_band"], {
        "en": "925 silver heart necklace", "es": "collar de plata corazon", "fr": "collier coeur argent",
        "ko": ("하트 목걸이", "heart necklace")}),
    ("gold stud earrings", ["studs"], ["pendant", "hair_clip"], {
        "en": "gold stud earrings", "ja": ("ピアス ゴールド", "gold earrings"), "pt": ("brinco de ouro", "gold earring")}),
    ("wedding rings", ["wedding_band"], ["pendant", "charm_bracelet"], {
        "en": "wedding ring set for couples", "es": "anillos de boda", "fr": ("alliance mariage", "wedding band"),
        "ar": "خواتم زواج"}),
    ("charm bracelet", ["charm_bracelet"], ["watchband", "pendant"], {
        "en": "pandora style charm bracelet", "it": "bracciale con charms"}),
    ("claw hair clips", ["hair_clip"], ["studs", "pendant"], {
        "ko": ("집게핀", "claw clip"), "en": "claw hair clips", "ja": ("ヘアクリップ", "hair clip")}),
    ("men's automatic watch", ["mech_watch"], ["quartz_w", "smartwatch", "watchband"], {
        "en": "automatic watch men", "ja": ("機械式時計 メンズ", "men's mechanical watch"),
        "de": "Automatikuhr Herren", "pt": "relógio automático masculino"}),
    ("women's watch", ["quartz_w"], ["mech_watch", "charm_bracelet"], {
        "es": "reloj mujer", "fr": "montre femme", "ko": ("여자 손목시계", "women's wristwatch")}),
    ("building blocks", ["blocks"], ["jigsaw", "rc_car"], {
        "en": "building blocks for kids", "es": "bloques de construccion", "pl": "klocki konstrukcyjne",
        "ja": ("ブロック おもちゃ", "toy blocks")}),
    ("rc drift car", ["rc_car"], ["blocks", "doll"], {
        "en": "rc drift car 1/16", "es": ("carro control remoto", "remote control car"),
        "pt": ("carrinho de controle remoto", "remote control car"), "ko": ("rc카", "rc car")}),
    ("barbie doll", ["doll"], ["plush", "girls_dress"], {
        "en": "barbie doll", "es": "muñeca barbie", "pt": "boneca barbie"}),
    ("1000 piece jigsaw puzzle", ["jigsaw"], ["blocks", "wall_sticker"], {
        "en": "1000 piece jigsaw puzzle", "de": "Puzzle 1000 Teile", "fr": "puzzle 1000 pièces",
        "it": "puzzle 1000 pezzi"}),
    ("one piece luffy figure", ["figure"], ["plush", "doll"], {
        "en": "one piece luffy figure", "ja": ("ワンピース フィギュア", "one piece figure"),
        "ko": ("원피스 피규어", "one piece figure"), "fr": ("figurine one piece", "one piece figure")}),
    ("stitch plush", ["plush"], ["cat_toy", "blocks"], {
        "en": "stitch plush toy", "es": ("peluche stitch", "stitch plush"), "pt": ("pelúcia stitch", "stitch plush"),
        "ko": ("스티치 인형", "stitch plush")}),
    ("car seat covers", ["seat_cover"], ["wiper", "led_bulb"], {
        "en": "universal car seat covers", "es": "fundas asientos coche", "pt": "capa de banco automotivo",
        "ar": "كسوة مقاعد سيارة", "fr": "housse siège voiture"}),
    ("dash cam", ["dash_cam"], ["action_cam", "car_holder"], {
        "en": "dash cam front and rear", "ko": ("블랙박스", "dash cam"), "ja": ("ドライブレコーダー", "dash cam"),
        "pl": ("kamera samochodowa", "car camera"), "de": "Dashcam Auto"}),
    ("h4 led headlight bulbs", ["led_bulb"], ["wiper", "dash_cam"], {
        "en": "h4 led headlight bulbs", "es": ("focos led h4", "h4 led bulbs"), "pt": "lampada led h4 farol",
        "fr": ("ampoule led h4", "h4 led bulb")}),
    ("usb c car charger", ["car_charger"], ["phone_charger", "car_holder"], {
        "en": "car charger usb c pd", "es": "cargador de coche usb c", "ko": ("차량용 충전기", "car charger")}),
    ("windshield wiper blades", ["wiper"], ["seat_cover", "led_bulb"], {
        "en": "windshield wiper blades", "de": ("Scheibenwischer", "windshield wipers"),
        "it": "spazzole tergicristallo"}),
    ("yoga mat", ["yoga_mat"], ["bands", "tent"], {
        "en": "non slip yoga mat 6mm", "es": "esterilla yoga", "fr": "tapis de yoga", "ja": "ヨガマット",
        "ko": "요가매트", "pt": "tapete de yoga"}),
    ("resistance bands", ["bands"], ["yoga_mat", "goggles"], {
        "en": "resistance bands set", "pt": "faixa elástica exercício", "es": "bandas elasticas ejercicio"}),
    ("bike helmet", ["bike_helmet"], ["goggles", "reel"], {
        "en": "bike helmet with light", "fr": "casque vélo", "it": "casco bici", "ja": "自転車 ヘルメット"}),
    ("spinning fishing reel", ["reel"], ["tent", "bike_helmet"], {
        "en": "spinning fishing reel", "es": ("carrete de pesca", "fishing reel"),
        "pt": ("molinete de pesca", "spinning fishing reel"), "ja": ("スピニングリール", "spinning reel")}),
    ("camping tent", ["tent"], ["reel", "yoga_mat"], {
        "en": "camping tent 4 person", "fr": "tente de camping", "de": ("Zelt 4 Personen", "4-person tent"),
        "ko": "캠핑 텐트"}),
    ("swimming goggles", ["goggles"], ["w_bikini", "bike_helmet"], {
        "en": "anti fog swimming goggles", "es": "gafas de natacion", "fr": "lunettes de natation"}),
    ("anti-colic baby bottle", ["baby_bottle"], ["flask", "diapers"], {
        "en": "anti colic baby bottle", "es": "biberon anticolicos", "pt": ("mamadeira", "baby bottle"),
        "ko": ("젖병", "baby bottle")}),
    ("lightweight stroller", ["stroller"], ["baby_bottle", "carry_on"], {
        "en": "lightweight baby stroller", "es": "cochecito de bebé ligero", "fr": "poussette légère",
        "ar": ("عربة اطفال", "baby stroller")}),
    ("newborn diapers", ["diapers"], ["baby_bottle", "stroller"], {
        "pt": "fralda descartável recém nascido", "en": "newborn diapers", "ja": "おむつ 新生児"}),
    ("girls' dress", ["girls_dress"], ["w_casual_dress", "w_evening_dress", "doll"], {
        "es": "vestido niña", "en": "girls party dress", "pt": ("vestido infantil", "children's dress"),
        "fr": "robe fille"}),
    ("kids' sneakers", ["kids_shoes"], ["run_w", "run_m"], {
        "en": "kids light up sneakers", "es": "tenis para niños", "ko": "아동 운동화"}),
    ("cordless drill", ["drill"], ["screwdriver", "multimeter", "solder"], {
        "en": "cordless drill 20v", "es": "taladro inalambrico", "pt": "furadeira sem fio",
        "de": ("Akkuschrauber", "cordless drill driver"), "pl": "wiertarka akumulatorowa"}),
    ("precision screwdriver set", ["screwdriver"], ["drill", "solder"], {
        "en": "precision screwdriver set", "ja": "精密ドライバー セット", "fr": "tournevis de précision"}),
    ("digital multimeter", ["multimeter"], ["solder", "drill"], {
        "en": "digital multimeter", "es": "multimetro digital", "ko": "디지털 멀티미터"}),
    ("soldering iron", ["solder"], ["multimeter", "straightener"], {
        "en": "soldering iron kit 60w", "pt": "ferro de solda", "de": "Lötkolben"}),
    ("air fryer", ["air_fryer"], ["coffee_maker", "pan"], {
        "en": "air fryer 5l", "es": "freidora de aire", "fr": ("friteuse sans huile", "oil-free fryer"),
        "pt": ("fritadeira elétrica airfryer", "electric air fryer"), "ko": "에어프라이어",
        "it": "friggitrice ad aria"}),
    ("espresso machine", ["coffee_maker"], ["air_fryer", "flask"], {
        "en": "espresso machine", "it": "macchina caffè espresso", "fr": ("machine à café", "coffee machine"),
        "ar": ("ماكينة قهوة", "coffee machine")}),
    ("robot vacuum", ["robot_vac"], ["vac_parts", "humidifier"], {
        "en": "robot vacuum cleaner", "ja": "ロボット掃除機", "ko": "로봇청소기", "es": "aspiradora robot"}),
    ("robot vacuum filter", ["vac_parts"], ["robot_vac", "humidifier"], {
        "en": "roomba replacement filters", "de": "Filter für Saugroboter", "ko": "로봇청소기 필터"}),
    ("humidifier", ["humidifier"], ["air_fryer", "hair_dryer"], {
        "en": "cool mist humidifier", "ja": "加湿器", "pt": ("umidificador de ar", "air humidifier")}),
]  # fmt: skip

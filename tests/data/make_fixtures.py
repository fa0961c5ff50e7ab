#!/usr/bin/env python3
"""Writes search-fixtures.json (hand-made courses, in the JSON offer-file form) and
relevance.json (the relevance test set) beside this script. The JSON files are the fixtures;
this script is kept so they can be changed consistently. Run: python3 tests/data/make_fixtures.py
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
SOUTHWARK, NEWHAM, BARNET, LAMBETH = "E09000028", "E09000025", "E09000003", "E09000022"

def uid(kind, n):
    return "5eed%04d-0000-4000-8000-%012d" % (kind, n)

P1, P2 = uid(1, 1), uid(1, 2)
providers = [
    {"id": P1, "name": "Bellenden Community Learning", "last_verified": "2026-08-20",
     "website": "https://bellenden.example.org"},
    {"id": P2, "name": "Carpenters Road Adult College", "last_verified": "2026-07-01",
     "website": "https://carpenters.example.org"},
]

def venue(n, p, name, postcode, lat, lon, step_free):
    return {"id": uid(2, n), "provider_id": p, "name": name,
            "address": {"lines": ["%d Fixture Street" % n], "town": "London", "postcode": postcode},
            "location": {"lat": lat, "lon": lon},
            "accessibility": {"step_free": step_free, "accessible_toilet": step_free,
                              "hearing_loop": False, "parking": False}}

venues = [
    venue(1, P1, "Bellenden Hall", "SE15 5JR", 51.47189, -0.06468, True),      # SE15 centroid
    venue(2, P1, "Rye Lane Upstairs Room", "SE15 4ST", 51.4702, -0.0688, False),
    venue(3, P2, "Carpenters Learning Centre", "E15 4QZ", 51.53911, 0.00307, True),  # E15 centroid
    venue(4, P2, "Barking Road Annexe", "E6 2RT", 51.5256, 0.05583, True),      # E6 centroid
    venue(5, P1, "Ballards Lane Rooms", "N3 1XX", 51.59984, -0.1921, True),     # N3 centroid (Barnet)
    {"id": uid(2, 6), "provider_id": P1, "name": "Bellenden Online Classroom",
     "virtual_url": "https://bellenden.example.org/online"},
]
V = {k: uid(2, i) for i, k in enumerate(["", "peckham", "ryelane", "stratford", "eastham", "finchley", "online"]) if k}

courses = []
def course(n, title, desc, cats, venue_key, days, t0, t1, start="2026-10-06", fee=0,
           concessions=(), eligibility=(), level="non-accredited", delivery="classroom",
           mh=False, lang="en", places=12, provider=P1):
    run = {"id": uid(4, n), "venue_id": V[venue_key], "start": start, "days": days,
           "start_time": t0 + ":00", "end_time": t1 + ":00", "weeks": 10}
    if places is not None:
        run["places_left"] = places
    c = {"id": uid(3, n), "provider_id": provider, "title": title, "description": desc,
         "categories": cats, "level": level, "delivery": delivery,
         "mental_health_focus": mh, "support": [], "language": lang, "runs": [run],
         "fees": {"full_fee_pence": fee, "concessions": list(concessions)},
         "eligibility": list(eligibility), "last_verified": "2026-08-15"}
    courses.append(c)
    return uid(3, n)

BENEFITS = {"name": "On a means-tested benefit", "conditions": [{"type": "means_tested_benefits"}],
            "fee_pence": 0, "documents": ["proof-of-benefits"]}

F = {}
F[1] = course(1, "Anxiety Management Group", "A small, friendly afternoon group: practical ways to cope when worry takes over.", ["wellbeing"], "peckham", ["tue"], "13:30", "15:30", mh=True)
F[2] = course(2, "Anxiety and Worry: Morning Group", "Early sessions with tea, talk and practical coping techniques.", ["wellbeing"], "peckham", ["tue"], "09:30", "11:30", mh=True)
F[3] = course(3, "Coping with Anxiety Workshop", "Practical techniques from a qualified therapist, in a small group.", ["wellbeing"], "peckham", ["thu"], "14:00", "16:00", fee=9000)
F[4] = course(4, "Anxiety Support Circle", "A peer support circle that meets weekly.", ["wellbeing"], "finchley", ["wed"], "14:00", "16:00", mh=True)
F[5] = course(5, "Calm Minds: Anxiety Support", "Join from home on a laptop or phone; a gentle, weekly group.", ["wellbeing"], "online", ["mon"], "18:00", "19:30", start="rolling", delivery="online", mh=True)
F[6] = course(6, "ESOL Entry 2 Evening Class", "Speaking, listening, reading and writing for everyday life.", ["esol"], "stratford", ["mon", "wed"], "18:00", "20:00", start="2026-10-12", level="entry", provider=P2)
F[7] = course(7, "ESOL Entry 3 Evening", "Build confidence in English for work and study.", ["esol"], "eastham", ["thu"], "18:30", "20:30", start="2027-01-11", level="entry", provider=P2)
F[8] = course(8, "ESOL Daytime Conversation", "Conversation practice over coffee.", ["esol"], "stratford", ["tue"], "10:00", "12:00", start="2026-10-13", level="entry", provider=P2)
F[9] = course(9, "ESOL Level 1 Evening", "Reading and writing at level 1.", ["esol"], "peckham", ["mon"], "18:00", "20:00", start="2026-10-12", level="level-1")
F[10] = course(10, "Digital Skills Online: Email and Video Calls", "Learn email and video calling from home, at your own pace.", ["digital"], "online", [], "10:00", "11:00", start="rolling", delivery="online", level="entry")
F[11] = course(11, "Digital Skills: Using Your Phone", "Hands-on help with your own smartphone, in a friendly room.", ["digital"], "peckham", ["fri"], "10:00", "12:00", level="entry")
F[12] = course(12, "Mindfulness in Nunhead", "Breathing, body scan and mindful walking for beginners.", ["wellbeing"], "peckham", ["wed"], "14:00", "15:30", mh=True)
F[13] = course(13, "Pottery Wheel Throwing", "Throw bowls and mugs on the wheel; clay and glazes included.", ["arts-crafts"], "ryelane", ["thu"], "18:00", "20:00", fee=12000)
F[14] = course(14, "Pottery for Beginners", "Hand-building with clay: pinch pots, coils and slabs.", ["arts-crafts"], "peckham", ["thu"], "18:00", "20:00", fee=12000)
F[15] = course(15, "Spanish Conversation Saturdays", "Relaxed conversation practice for improvers.", ["languages"], "peckham", ["sat"], "10:00", "12:00", fee=8000)
F[16] = course(16, "Spanish Evening Improvers", "Grammar and conversation for improvers.", ["languages"], "peckham", ["tue"], "19:00", "21:00", fee=8000)
F[17] = course(17, "Horticulture Level 1 Certificate", "Plant science, propagation and garden practice.", ["gardening"], "peckham", ["mon"], "10:00", "13:00", level="level-1", fee=15000)
F[18] = course(18, "Horticulture Taster for Wellbeing", "Potter about the beds and grow your own herbs.", ["gardening"], "peckham", ["mon"], "10:00", "13:00")
F[19] = course(19, "Budgeting and Money Basics", "Make a budget that works, deal with debt and bills.", ["money"], "peckham", ["wed"], "10:00", "12:00", fee=12000, concessions=[BENEFITS])
F[20] = course(20, "Money Management Certificate", "An accredited course on managing household money.", ["money"], "peckham", ["wed"], "13:00", "15:00", fee=12000, level="level-1")
F[21] = course(21, "Bengali Cookery Club", "Cook and share home-style dishes together.", ["cooking"], "peckham", ["fri"], "11:00", "13:00", lang="bn")
F[22] = course(22, "Healthy Cookery on a Budget", "Cheap, healthy meals from the market.", ["cooking"], "peckham", ["fri"], "11:00", "13:00")
F[23] = course(23, "Maths for Work Level 2", "Functional skills maths for the workplace.", ["maths"], "peckham", ["tue"], "18:00", "20:00", level="level-2",
               eligibility=[{"condition": {"type": "resident_in_borough", "boroughs": [SOUTHWARK]}, "documents": ["proof-of-address"]}])
F[24] = course(24, "Maths Refresher Level 2", "Functional skills maths, open to all Londoners.", ["maths"], "peckham", ["thu"], "18:00", "20:00", level="level-2")
F[25] = course(25, "Creative Writing Drop-in", "Write stories and poems; start any week.", ["creative-writing"], "peckham", ["mon"], "14:00", "16:00", start="rolling")
F[26] = course(26, "Creative Writing Term Course", "A ten-week course in short fiction.", ["creative-writing"], "peckham", ["mon"], "14:00", "16:00", start="2026-10-05")
F[27] = course(27, "Yoga Flow for Beginners", "Stretch, breathe and build strength.", ["exercise"], "peckham", ["wed"], "12:00", "13:00", places=0)
F[28] = course(28, "Chair Yoga", "Seated yoga for all abilities.", ["exercise"], "peckham", ["wed"], "12:00", "13:00", places=8)
F[29] = course(29, "Storytime Together Saturdays", "Stories and rhymes for parents and under-fives.", ["family-learning"], "peckham", ["sat"], "10:00", "11:00")
F[30] = course(30, "Storytime Together Fridays", "Stories and rhymes for parents and under-fives.", ["family-learning"], "peckham", ["fri"], "10:00", "11:00")
F[31] = course(31, "Local History Walks and Talks", "Walk the streets, then research them online.", ["history-culture"], "peckham", ["sat"], "10:00", "12:00", delivery="blended")
F[32] = course(32, "London History Lectures", "Illustrated talks on the city's past.", ["history-culture"], "peckham", ["sat"], "14:00", "16:00")
F[33] = course(33, "Guitar for Absolute Beginners", "Chords, strumming and your first songs.", ["music"], "stratford", ["thu"], "18:30", "20:30", fee=6000, provider=P2)
F[34] = course(34, "Job Club: CV Writing and Interviews", "One-to-one help with your CV and applications.", ["employability"], "peckham", ["tue"], "10:00", "12:00")
F[35] = course(35, "Photography Basics", "Get off auto: light, framing and exposure.", ["arts-crafts"], "peckham", ["sat"], "10:00", "13:00", fee=9000)
F[36] = course(36, "Guitar Improvers", "Barre chords and fingerpicking.", ["music"], "peckham", ["thu"], "18:30", "20:30", fee=6000)

bundle = {"providers": providers, "venues": venues, "courses": courses}
with open(os.path.join(HERE, "search-fixtures.json"), "w") as f:
    json.dump(bundle, f, indent=1)
    f.write("\n")

HER = {"age": 41, "borough": SOUTHWARK, "residency": "british-or-irish", "employment": "not-looking",
       "means_tested_benefits": True}
queries = [
    ("something for anxiety, near SE15, not mornings, free for her",
     {"text": "anxiety", "postcode": "SE15", "radius_km": 3, "time_from": "12:00", "max_fee_pence": 0, "learner": HER},
     [1, 5], [2, 3, 4]),
    ("ESOL evening classes in Newham starting within a month (from 1 Oct 2026)",
     {"text": "esol", "boroughs": [NEWHAM], "attendance": ["evening"], "starts_after": "2026-10-01", "starts_before": "2026-10-31"},
     [6], [7, 8, 9]),
    ("digtal skills online (sic)", {"text": "digtal skills online"}, [10], [11]),
    ("mindfullness nunhead (sic)", {"text": "mindfullness nunhead"}, [12], [1, 13]),
    ("pottery at a step-free venue", {"text": "pottery", "step_free_only": True}, [14], [13]),
    ("Spanish at the weekend", {"text": "spanish", "attendance": ["weekend"]}, [15], [16]),
    ("horticulture, level 1 only", {"text": "horticulture", "levels": ["level-1"]}, [17], [18]),
    ("money course free for a client on benefits", {"text": "money", "max_fee_pence": 0, "learner": HER}, [19], [20]),
    ("cooking taught in Bengali", {"text": "cookery", "languages": ["bn"]}, [21], [22]),
    ("maths level 2 a Lambeth resident can join", {"text": "maths level 2", "learner": {"age": 30, "borough": LAMBETH}, "eligible_only": True}, [24], [23]),
    ("creative writing, start any time", {"text": "creative writing", "flexible_start_only": True}, [25], [26]),
    ("yoga with places left", {"text": "yoga", "min_places_left": 1}, [28], [27]),
    ("storytime on Saturdays", {"text": "storytime", "days": ["sat"]}, [29], [30]),
    ("history, blended", {"text": "history", "delivery": ["blended"]}, [31], [32]),
    ("guitar in Newham", {"text": "guitar", "boroughs": [NEWHAM]}, [33], [36]),
    ("cv writing", {"text": "cv writing"}, [34], [25, 26]),
    ("photgraphy (sic)", {"text": "photgraphy"}, [35], [36]),
    ("anxiety within 3 km of SE15, in person only", {"text": "anxiety", "postcode": "SE15", "radius_km": 3, "exclude_online": True}, [1, 2, 3], [4, 5]),
    ("anxiety nearest first from SE15 5JR, within 5 km", {"text": "anxiety", "postcode": "SE15 5JR", "radius_km": 5, "sort": "distance", "exclude_online": True}, [1, 2, 3], [4]),
    ("anxiety group, mental-health focused", {"text": "anxiety group", "mental_health_only": True}, [1, 5], [3]),
    ("anxiety, online", {"text": "anxiety", "delivery": ["online"]}, [5], [1, 2, 3, 4]),
    ("evening guitar newham (all as text)", {"text": "evening guitar newham"}, [33], [36]),
    ("job club", {"text": "job club", "categories": ["employability"]}, [34], [12]),
    ("pottery beginners", {"text": "pottery beginners"}, [14], [13]),
    ("budgeting within 1 km of SE15, cheapest first for a client on benefits", {"text": "budgeting", "postcode": "SE15", "radius_km": 1, "sort": "fee", "learner": HER}, [19], [20]),
    ("esol within 2 km of a point in Stratford", {"text": "esol", "near": {"lat": 51.5391, "lon": 0.0031}, "radius_km": 2, "exclude_online": True}, [6, 8], [7, 9]),
    ("esol evening in Newham, soonest first, starting by end of October", {"categories": ["esol"], "boroughs": [NEWHAM], "attendance": ["evening"], "starts_before": "2026-10-31", "starts_after": "2026-10-10", "sort": "start-date"}, [6], [7, 8, 9]),
    ("anxiety in Barnet", {"text": "anxiety", "boroughs": [BARNET]}, [4], [1, 2, 3]),
]
out = [{"name": n, "request": r, "must_top10": [F[i] for i in m], "must_not": [F[i] for i in x]} for n, r, m, x in queries]
with open(os.path.join(HERE, "relevance.json"), "w") as f:
    json.dump({"seed": 20261124, "generated_courses": 3000, "queries": out}, f, indent=1)
    f.write("\n")
print(len(courses), "fixture courses,", len(out), "queries")

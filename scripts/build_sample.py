#!/usr/bin/env python3
"""Build the embedded Spanish QA sample: ``src/destila/resources/sample_es.json``.

Every paragraph, question and answer below was written for destila. Answers are given as text (optionally
with an occurrence index, counted from 0, when the same span appears more than once in the paragraph) and
each ``answer_start`` is computed here by searching the context, so the JSON can never drift from the prose.
The build stops with an error when a span is missing, ambiguous, cut in the middle of a word, or when a
paragraph or question breaks the house rules checked in ``validate_paragraph``.

    python scripts/build_sample.py                  # rewrite the packaged resource
    python scripts/build_sample.py --output x.json  # write somewhere else
    python scripts/build_sample.py --check          # exit 1 if the packaged resource is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "src" / "destila" / "resources" / "sample_es.json"
ID_PREFIX = "muestra-"
MIN_WORDS, MAX_WORDS = 60, 160
MAX_ANSWERS = 3
_WORD_CHAR = re.compile(r"\w")


class SampleError(Exception):
    """The sample definition is inconsistent; the message says where."""


@dataclass(frozen=True)
class Question:
    text: str
    spans: tuple  # each a str or (str, occurrence)
    impossible: bool


@dataclass(frozen=True)
class Paragraph:
    context: str
    questions: tuple


def Q(question: str, *answers) -> Question:
    """An answerable question with 1-3 gold spans."""
    return Question(question, answers, impossible=False)


def N(question: str, *plausible) -> Question:
    """An unanswerable question; the optional spans are plausible but wrong answers."""
    return Question(question, plausible, impossible=True)


def P(context: str, *questions: Question) -> Paragraph:
    """A paragraph; line breaks and runs of spaces in the source collapse to single spaces."""
    return Paragraph(" ".join(context.split()), questions)


def A(title: str, *paragraphs: Paragraph) -> tuple[str, tuple[Paragraph, ...]]:
    """An article: a title and its paragraphs."""
    return title, paragraphs


def _is_word_char(ch: str) -> bool:
    return bool(ch) and bool(_WORD_CHAR.match(ch))


def span_starts(context: str, text: str) -> list[int]:
    """Offsets where `text` occurs in `context` without cutting a word at either end."""
    starts = []
    i = context.find(text)
    while i != -1:
        end = i + len(text)
        before = context[i - 1] if i > 0 else ""
        after = context[end] if end < len(context) else ""
        cuts_before = _is_word_char(before) and _is_word_char(text[0])
        cuts_after = _is_word_char(after) and _is_word_char(text[-1])
        if not (cuts_before or cuts_after):
            starts.append(i)
        i = context.find(text, i + 1)
    return starts


def locate(context: str, span, where: str) -> dict:
    """`{"text", "answer_start"}` for a span given as text or (text, occurrence)."""
    if isinstance(span, tuple):
        text, occurrence = span
    else:
        text, occurrence = span, None
    if not isinstance(text, str) or not text or text != text.strip():
        raise SampleError(f"{where}: answer {text!r} is empty or has leading/trailing spaces")
    starts = span_starts(context, text)
    if not starts:
        raise SampleError(f"{where}: answer {text!r} is not in the context (as whole words)")
    if occurrence is None:
        if len(starts) > 1:
            raise SampleError(
                f"{where}: answer {text!r} occurs {len(starts)} times at {starts}; give an occurrence index"
            )
        occurrence = 0
    if not 0 <= occurrence < len(starts):
        raise SampleError(f"{where}: answer {text!r} has no occurrence {occurrence} (found {len(starts)})")
    start = starts[occurrence]
    assert context[start : start + len(text)] == text
    return {"text": text, "answer_start": start}


def validate_paragraph(paragraph: Paragraph, where: str) -> None:
    context = paragraph.context
    words = len(context.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise SampleError(f"{where}: {words} words, expected {MIN_WORDS}-{MAX_WORDS}")
    if not unicodedata.is_normalized("NFC", context):
        raise SampleError(f"{where}: context is not NFC-normalised")
    if not paragraph.questions:
        raise SampleError(f"{where}: paragraph without questions")
    seen = set()
    for q in paragraph.questions:
        if q.text in seen:
            raise SampleError(f"{where}: question repeated: {q.text!r}")
        seen.add(q.text)
        if not (q.text.startswith("¿") and q.text.endswith("?")):
            raise SampleError(f"{where}: question must be written as ¿...?: {q.text!r}")
        if not q.impossible and not 1 <= len(q.spans) <= MAX_ANSWERS:
            raise SampleError(f"{where}: {q.text!r} needs 1-{MAX_ANSWERS} answers, has {len(q.spans)}")
        texts = [s[0] if isinstance(s, tuple) else s for s in q.spans]
        if len(set(texts)) != len(texts):
            raise SampleError(f"{where}: {q.text!r} lists the same answer twice")


def build(articles=None) -> dict:
    """The SQuAD v2.0 dataset as a dict; ids are numbered in order of appearance."""
    articles = ARTICLES if articles is None else articles
    data = []
    contexts = set()
    titles = set()
    number = 0
    for title, paragraphs in articles:
        if title in titles:
            raise SampleError(f"article title repeated: {title!r}")
        titles.add(title)
        out_paragraphs = []
        for p_index, paragraph in enumerate(paragraphs):
            where = f"{title!r} paragraph {p_index}"
            validate_paragraph(paragraph, where)
            if paragraph.context in contexts:
                raise SampleError(f"{where}: context repeated")
            contexts.add(paragraph.context)
            qas = []
            for q in paragraph.questions:
                number += 1
                qid = f"{ID_PREFIX}{number:04d}"
                spans = [locate(paragraph.context, s, f"{qid} {q.text!r}") for s in q.spans]
                entry = {"id": qid, "question": q.text}
                if q.impossible:
                    entry["answers"] = []
                    entry["is_impossible"] = True
                    if spans:
                        entry["plausible_answers"] = spans
                else:
                    entry["answers"] = spans
                    entry["is_impossible"] = False
                qas.append(entry)
            out_paragraphs.append({"context": paragraph.context, "qas": qas})
        data.append({"title": title, "paragraphs": out_paragraphs})
    return {"version": "v2.0", "data": data}


def render(dataset: dict) -> str:
    return json.dumps(dataset, ensure_ascii=False, indent=2) + "\n"


def summarize(dataset: dict) -> dict:
    paragraphs = [p for a in dataset["data"] for p in a["paragraphs"]]
    qas = [q for p in paragraphs for q in p["qas"]]
    return {
        "articles": len(dataset["data"]),
        "paragraphs": len(paragraphs),
        "questions": len(qas),
        "unanswerable": sum(q["is_impossible"] for q in qas),
        "answers": sum(len(q["answers"]) for q in qas),
        "words": sum(len(p["context"].split()) for p in paragraphs),
    }


# --------------------------------------------------------------------------------------------------------
# The sample. Facts about real people and places are general knowledge; Valdeluna, Puerto Almendro,
# Villanueva del Olmo, the Nodo Sur cooperative and the people named with them are invented.
# --------------------------------------------------------------------------------------------------------

ARTICLES = []

ARTICLES.append(
    A(
        "Historia de la península ibérica",
        P(
            """En el año 929, Abderramán III se proclamó califa en Córdoba y rompió así la dependencia
            religiosa que al-Ándalus mantenía con Bagdad. Durante el siglo X la ciudad llegó a ser una de las
            más pobladas de Europa occidental, con bibliotecas, baños públicos y un activo comercio de sedas y
            cerámica. Muy cerca de la capital, el califa mandó levantar Medina Azahara, una ciudad palatina
            construida sobre las laderas de Sierra Morena. El esplendor duró poco: tras una larga guerra
            civil, el califato se disolvió en 1031 y el territorio se fragmentó en pequeños reinos llamados
            taifas, que competían entre sí y a menudo pagaban tributos a los reinos cristianos del norte a
            cambio de protección.""",
            Q("¿En qué año se proclamó califa Abderramán III?", "929", "el año 929"),
            Q("¿Cómo se llamaba la ciudad palatina que mandó levantar el califa?", "Medina Azahara"),
            Q("¿Cuándo se disolvió el califato?", "1031", "en 1031"),
            Q("¿Cómo se llamaban los pequeños reinos en que se fragmentó el territorio?", "taifas"),
            N("¿En qué año se terminó de construir Medina Azahara?", "929"),
        ),
        P(
            """El 2 de enero de 1492, Boabdil entregó las llaves de Granada a Isabel de Castilla y Fernando de
            Aragón, conocidos como los Reyes Católicos. Con la rendición del último reino nazarí terminaba un
            proceso militar de casi ocho siglos. Ese mismo año ocurrieron otros dos hechos decisivos. En
            marzo, los monarcas firmaron el decreto que obligaba a los judíos a convertirse o abandonar sus
            reinos, y en agosto Cristóbal Colón partió del puerto de Palos de la Frontera con tres
            embarcaciones: la Pinta, la Niña y la Santa María. Tras más de dos meses de navegación, en la
            madrugada del 12 de octubre un vigía de la Pinta gritó «¡Tierra!», y horas después la expedición
            desembarcó en una isla del Caribe que los taínos llamaban Guanahaní.""",
            Q("¿Quién entregó las llaves de Granada?", "Boabdil"),
            Q("¿Desde qué puerto partió Colón?", "Palos de la Frontera", "puerto de Palos de la Frontera"),
            Q("¿Cuántas embarcaciones llevaba Colón?", "tres", "tres embarcaciones"),
            Q("¿Cómo llamaban los taínos a la isla en la que desembarcó la expedición?", "Guanahaní"),
            Q("¿En qué mes firmaron los monarcas el decreto sobre los judíos?", "marzo", "En marzo"),
            Q("¿Desde qué embarcación se avistó tierra?", ("la Pinta", 1), ("Pinta", 1)),
            N("¿Qué nombre le dio Colón a la isla en la que desembarcó?", "Guanahaní"),
        ),
        P(
            """Mientras las tropas napoleónicas ocupaban gran parte de la península, un grupo de diputados
            reunidos en Cádiz aprobó el 19 de marzo de 1812 la primera constitución española. Como ese día se
            celebraba San José, el texto recibió pronto el apodo popular de «la Pepa». La norma proclamaba que
            la soberanía residía en la nación, establecía la división de poderes y reconocía la libertad de
            imprenta. Su vigencia fue breve e intermitente: Fernando VII la derogó en 1814, al regresar de su
            cautiverio en Francia, aunque volvió a aplicarse durante el Trienio Liberal, entre 1820 y 1823. Su
            influencia alcanzó a varias constituciones de Portugal, Italia y América Latina.""",
            Q("¿En qué ciudad se aprobó la primera constitución española?", "Cádiz"),
            Q("¿Qué apodo popular recibió la constitución de 1812?", "la Pepa", "Pepa"),
            Q(
                "¿Por qué la constitución recibió ese apodo?",
                "ese día se celebraba San José",
                "Como ese día se celebraba San José",
            ),
            Q("¿Quién derogó la constitución en 1814?", "Fernando VII"),
            Q("¿Entre qué años tuvo lugar el Trienio Liberal?", "entre 1820 y 1823", "1820 y 1823"),
            N("¿Cuántos diputados aprobaron la constitución?", "un grupo de diputados"),
        ),
    )
)

ARTICLES.append(
    A(
        "Ríos y montañas de España",
        P(
            """Con unos 930 kilómetros, el Ebro es el río más largo de los que discurren por completo en
            territorio español. Nace en Fontibre, una pequeña localidad de Cantabria, y desemboca en el
            Mediterráneo, donde forma un amplio delta en la provincia de Tarragona. A su paso atraviesa
            ciudades como Logroño, Zaragoza y Tortosa. El delta, de más de 300 kilómetros cuadrados, es uno de
            los humedales más importantes del Mediterráneo occidental: allí se cultiva arroz desde hace siglos
            y cada invierno llegan miles de aves acuáticas. Sin embargo, los embalses construidos aguas arriba
            retienen buena parte de los sedimentos, y la costa del delta retrocede con cada temporal.""",
            Q("¿Dónde nace el Ebro?", "Fontibre", "en Fontibre"),
            Q(
                "¿Cuántos kilómetros mide aproximadamente el Ebro?",
                "unos 930 kilómetros",
                "930 kilómetros",
                "930",
            ),
            Q("¿Qué se cultiva en el delta del Ebro?", "arroz"),
            Q(
                "¿Qué retienen los embalses construidos aguas arriba?",
                "buena parte de los sedimentos",
                "los sedimentos",
            ),
            N("¿Cuántas aves acuáticas llegan al delta cada verano?", "miles de aves acuáticas"),
        ),
        P(
            """Con 3715 metros de altitud, el Teide, en la isla de Tenerife, es el punto más alto de España.
            Se trata de un estratovolcán que se eleva dentro de una enorme caldera conocida como Las Cañadas.
            La erupción más reciente de la isla tuvo lugar en 1909, en el volcán del Chinyero, situado en una
            de las dorsales que parten del macizo central. El Parque Nacional del Teide fue creado en 1954 y,
            en 2007, la UNESCO lo declaró Patrimonio de la Humanidad. Gracias al aire limpio y estable de la
            zona, en sus alrededores se instalaron observatorios astronómicos de gran prestigio internacional.
            """,
            Q("¿Cuál es la altitud del Teide?", "3715 metros", "3715"),
            Q("¿Cómo se llama la caldera en la que se eleva el Teide?", "Las Cañadas"),
            Q("¿En qué año se creó el Parque Nacional del Teide?", "1954", "en 1954"),
            Q(
                "¿Qué volcán protagonizó la erupción más reciente de la isla?",
                "el volcán del Chinyero",
                "Chinyero",
            ),
            Q("¿Qué organismo declaró el parque Patrimonio de la Humanidad?", "la UNESCO", "UNESCO"),
            N("¿En qué año se instalaron los observatorios astronómicos?", "1954"),
        ),
        P(
            """Los Picos de Europa forman un macizo calizo de la cordillera Cantábrica repartido entre
            Asturias, Cantabria y Castilla y León. Según una explicación muy difundida, su nombre se debe a
            que eran las primeras cumbres que divisaban los marineros al regresar de América. En 1918 se creó
            allí el Parque Nacional de la Montaña de Covadonga, el primero de España, que en 1995 se amplió y
            adoptó el nombre actual. Su cumbre más alta es Torre Cerredo, de unos 2650 metros. El paisaje está
            lleno de gargantas profundas, como la del Cares, recorrida por una senda muy popular entre los
            excursionistas.""",
            Q(
                "¿Entre qué comunidades se reparten los Picos de Europa?",
                "Asturias, Cantabria y Castilla y León",
            ),
            Q(
                "¿Cuál fue el primer parque nacional de España?",
                "el Parque Nacional de la Montaña de Covadonga",
                "Parque Nacional de la Montaña de Covadonga",
            ),
            Q("¿Cuál es la cumbre más alta de los Picos de Europa?", "Torre Cerredo"),
            Q("¿Qué tipo de macizo forman los Picos de Europa?", "un macizo calizo", "calizo"),
            Q(
                "¿Por qué se llaman así los Picos de Europa según una explicación difundida?",
                "eran las primeras cumbres que divisaban los marineros al regresar de América",
            ),
            N("¿En qué año se creó el Parque Nacional de Ordesa?", "1918"),
        ),
    )
)

ARTICLES.append(
    A(
        "Paisajes de América Latina",
        P(
            """La cordillera de los Andes recorre el oeste de América del Sur a lo largo de unos 7000
            kilómetros, desde Venezuela hasta el extremo sur de Chile y Argentina. Es la cadena montañosa
            continental más larga del planeta. En la provincia argentina de Mendoza se alza el Aconcagua, que
            con 6961 metros es la montaña más alta fuera de Asia. Cada temporada, entre noviembre y marzo,
            miles de montañistas intentan alcanzar su cumbre, aunque solo una parte lo consigue debido al
            frío, el viento y la falta de oxígeno. Los Andes también albergan ciudades a gran altitud, como La
            Paz, El Alto o Quito.""",
            Q(
                "¿Cuánto mide aproximadamente la cordillera de los Andes?",
                "unos 7000 kilómetros",
                "7000 kilómetros",
            ),
            Q("¿En qué provincia se alza el Aconcagua?", "Mendoza", "la provincia argentina de Mendoza"),
            Q("¿Qué altura tiene el Aconcagua?", "6961 metros"),
            Q(
                "¿Por qué no todos los montañistas alcanzan la cumbre?",
                "debido al frío, el viento y la falta de oxígeno",
                "al frío, el viento y la falta de oxígeno",
            ),
            Q("¿En qué meses se intenta subir al Aconcagua?", "entre noviembre y marzo"),
            N("¿Cuál es la ciudad más poblada de los Andes?", "La Paz"),
        ),
        P(
            """El desierto de Atacama, en el norte de Chile, es uno de los lugares más áridos de la Tierra: en
            algunas estaciones meteorológicas de su interior casi nunca se ha registrado lluvia. Esa sequedad,
            unida a la gran altitud y a la escasa contaminación lumínica, lo convierte en un sitio
            privilegiado para la astronomía. En la meseta de Chajnantor, a unos 5000 metros sobre el nivel del
            mar, funciona ALMA, un conjunto de 66 antenas que observa el universo en longitudes de onda
            milimétricas. Cuando un año llueve más de lo habitual, el desierto se cubre de flores de colores
            durante unas semanas, un fenómeno que los chilenos llaman «desierto florido».""",
            Q("¿En qué meseta funciona ALMA?", "Chajnantor", "la meseta de Chajnantor"),
            Q("¿Cuántas antenas forman ALMA?", "66", "66 antenas"),
            Q("¿Cómo llaman los chilenos al fenómeno de las flores en el desierto?", "desierto florido"),
            Q(
                "¿En qué longitudes de onda observa ALMA el universo?",
                "milimétricas",
                "longitudes de onda milimétricas",
            ),
            N("¿Cada cuántos años se produce el desierto florido?", "unas semanas"),
            N("¿En qué año empezó a funcionar ALMA?"),
        ),
        P(
            """El lago Titicaca, compartido por Perú y Bolivia, se encuentra a unos 3800 metros de altitud y
            suele describirse como el lago navegable más alto del mundo. Tiene una superficie de unos 8300
            kilómetros cuadrados y en sus orillas viven comunidades aimaras y quechuas. Entre sus habitantes
            más conocidos están los uros, que construyen islas flotantes con totora, una planta acuática que
            crece en las zonas poco profundas. Las islas deben renovarse continuamente, porque las capas
            inferiores se pudren con el agua. Según varias leyendas andinas, del lago surgieron Manco Cápac y
            Mama Ocllo, fundadores del Imperio inca.""",
            Q("¿Qué países comparten el lago Titicaca?", "Perú y Bolivia"),
            Q("¿Con qué construyen los uros sus islas flotantes?", "totora", "con totora"),
            Q(
                "¿Por qué deben renovarse continuamente las islas?",
                "porque las capas inferiores se pudren con el agua",
                "las capas inferiores se pudren con el agua",
            ),
            Q("¿Quiénes surgieron del lago según las leyendas andinas?", "Manco Cápac y Mama Ocllo"),
            Q(
                "¿Qué superficie tiene el lago Titicaca?",
                "unos 8300 kilómetros cuadrados",
                "8300 kilómetros cuadrados",
            ),
            N("¿Cuál es la profundidad máxima del lago Titicaca?", "unos 3800 metros"),
        ),
    )
)

ARTICLES.append(
    A(
        "La ciencia y sus pioneros",
        P(
            """En 1869, el químico ruso Dmitri Mendeléyev presentó una tabla en la que ordenaba los elementos
            conocidos según su masa atómica y sus propiedades. Su gran acierto fue dejar huecos para elementos
            que todavía no se habían descubierto y predecir cómo serían. En los años siguientes aparecieron el
            galio, el escandio y el germanio, con características muy parecidas a las que él había anunciado.
            Hoy la tabla periódica se ordena por número atómico y contiene 118 elementos confirmados. En 1955
            se bautizó en su honor el elemento 101, el mendelevio.""",
            Q("¿En qué año presentó Mendeléyev su tabla?", "1869", "En 1869"),
            Q(
                "¿Qué elementos aparecieron después con las propiedades que había anunciado?",
                "el galio, el escandio y el germanio",
                "galio, el escandio y el germanio",
            ),
            Q(
                "¿Cuántos elementos confirmados contiene la tabla periódica actual?",
                "118",
                "118 elementos confirmados",
            ),
            Q("¿Cómo se ordena hoy la tabla periódica?", "por número atómico"),
            Q("¿Qué elemento se bautizó en honor de Mendeléyev?", "el mendelevio", "mendelevio"),
            N("¿Qué número atómico tiene el galio?", "101"),
        ),
        P(
            """Santiago Ramón y Cajal nació en 1852 en Petilla de Aragón, un pequeño municipio navarro. De
            niño quería ser pintor, pero su padre, médico, lo orientó hacia la medicina. Con un microscopio y
            una técnica de tinción con sales de plata ideada por el italiano Camillo Golgi, Cajal demostró que
            el sistema nervioso está formado por células independientes, las neuronas, y no por una red
            continua, como sostenía el propio Golgi. Ambos compartieron el Premio Nobel de Fisiología o
            Medicina en 1906. Sus dibujos de tejido nervioso, hechos a mano con enorme precisión, todavía se
            exponen en museos de todo el mundo.""",
            Q("¿Dónde nació Ramón y Cajal?", "Petilla de Aragón", "en Petilla de Aragón"),
            Q("¿Qué quería ser Cajal de niño?", "pintor"),
            Q(
                "¿Quién ideó la técnica de tinción que usó Cajal?",
                "Camillo Golgi",
                "el italiano Camillo Golgi",
            ),
            Q("¿En qué año recibió Cajal el Premio Nobel?", "1906", "en 1906"),
            Q(
                "¿De qué células independientes está formado el sistema nervioso según Cajal?",
                "las neuronas",
                "neuronas",
            ),
            N("¿En qué año murió Camillo Golgi?", "1906"),
        ),
        P(
            """El agua pura hierve a 100 grados Celsius cuando la presión es de una atmósfera, pero esa
            temperatura baja a medida que se asciende. En la cima de una montaña de 5000 metros, por ejemplo,
            hierve a unos 83 grados, por lo que cocer pasta allí lleva más tiempo. Otra rareza del agua es que
            alcanza su máxima densidad a unos 4 grados Celsius, y no al congelarse. ¿Qué consecuencias tiene
            esa rareza? El hielo flota y, en invierno, los lagos se congelan desde la superficie hacia abajo,
            lo que permite que peces y plantas sobrevivan en el fondo. Sin esa propiedad, la vida acuática en
            los climas fríos sería muy distinta.""",
            Q(
                "¿A qué temperatura hierve el agua pura a una atmósfera de presión?",
                "100 grados Celsius",
                "a 100 grados Celsius",
            ),
            Q(
                "¿A qué temperatura alcanza el agua su máxima densidad?",
                "unos 4 grados Celsius",
                "4 grados Celsius",
            ),
            Q(
                "¿A cuántos grados hierve el agua en la cima de una montaña de 5000 metros?",
                "unos 83 grados",
                "83 grados",
            ),
            Q("¿Cómo se congelan los lagos en invierno?", "desde la superficie hacia abajo"),
            N("¿A qué temperatura se congela el agua salada?", "unos 4 grados Celsius"),
        ),
    )
)

ARTICLES.append(
    A(
        "Seres vivos",
        P(
            """La fotosíntesis es el proceso por el que las plantas, las algas y algunas bacterias transforman
            la energía de la luz en energía química. Ocurre sobre todo en los cloroplastos, unos orgánulos que
            contienen clorofila, el pigmento responsable del color verde de las hojas. A partir de dióxido de
            carbono y agua, el organismo fabrica glucosa y libera oxígeno como subproducto. Se calcula que las
            algas y el fitoplancton marino producen aproximadamente la mitad del oxígeno de la atmósfera. En
            otoño, cuando muchos árboles dejan de fabricar clorofila, aparecen en sus hojas otros pigmentos
            amarillos y rojizos que antes quedaban ocultos.""",
            Q("¿En qué orgánulos ocurre principalmente la fotosíntesis?", "los cloroplastos", "cloroplastos"),
            Q("¿Qué pigmento da el color verde a las hojas?", ("clorofila", 0)),
            Q("¿Qué sustancia fabrica el organismo a partir de dióxido de carbono y agua?", "glucosa"),
            Q(
                "¿Qué parte del oxígeno atmosférico producen las algas y el fitoplancton marino?",
                "aproximadamente la mitad",
                "la mitad",
            ),
            N("¿Qué pigmentos aparecen en las hojas en primavera?", "otros pigmentos amarillos y rojizos"),
        ),
        P(
            """El ajolote es un anfibio endémico de los canales y lagos del valle de México, especialmente de
            Xochimilco. A diferencia de otras salamandras, suele conservar toda su vida rasgos larvarios, como
            las branquias externas que parecen plumas a ambos lados de la cabeza. Su capacidad de regeneración
            asombra a los científicos: puede reconstruir patas, la cola e incluso partes del corazón y del
            cerebro. Sin embargo, en estado silvestre está en peligro crítico de extinción por la
            contaminación del agua, la urbanización y la introducción de peces como la carpa y la tilapia. Su
            nombre procede del náhuatl.""",
            Q(
                "¿De qué zona es endémico el ajolote?",
                "del valle de México",
                "los canales y lagos del valle de México",
            ),
            Q(
                "¿Qué rasgo larvario conserva el ajolote a ambos lados de la cabeza?",
                "las branquias externas",
                "branquias externas",
            ),
            Q("¿Qué peces introducidos amenazan al ajolote?", "la carpa y la tilapia", "carpa y la tilapia"),
            Q("¿De qué lengua procede el nombre del ajolote?", "náhuatl", "del náhuatl"),
            N("¿Qué partes del cuerpo no puede regenerar el ajolote?", "patas, la cola"),
            N("¿Cuántos ajolotes quedan en estado silvestre?", "peligro crítico de extinción"),
        ),
        P(
            """A comienzos de este siglo, el lince ibérico estaba al borde de la desaparición: en 2002 se
            contaron menos de 100 ejemplares, repartidos en dos pequeñas poblaciones de Andalucía, en Doñana y
            en Sierra Morena. Su supervivencia depende casi por completo del conejo, que constituye la mayor
            parte de su dieta, y las enfermedades que diezmaron a este animal arrastraron también al felino.
            Gracias a un programa de cría en cautividad y a la reintroducción en Extremadura, Castilla-La
            Mancha y Portugal, el censo de 2023 superó los 2000 ejemplares. Los atropellos en carreteras
            siguen siendo, no obstante, una de sus principales causas de muerte.""",
            Q("¿Cuántos linces ibéricos se contaron en 2002?", "menos de 100 ejemplares", "menos de 100"),
            Q("¿De qué animal depende la supervivencia del lince?", "del conejo", "conejo"),
            Q("¿Qué cifra superó el censo de 2023?", "los 2000 ejemplares", "2000"),
            Q(
                "¿Cuál es una de las principales causas de muerte del lince?",
                "Los atropellos en carreteras",
                "atropellos en carreteras",
            ),
            Q(
                "¿En qué dos lugares de Andalucía sobrevivía el lince en 2002?",
                "en Doñana y en Sierra Morena",
                "Doñana y en Sierra Morena",
            ),
            N("¿Cuántos linces vivían en Portugal en 2023?", "2000"),
        ),
    )
)

ARTICLES.append(
    A(
        "Tecnología de todos los días",
        P(
            """El transistor, presentado en 1947 en los Laboratorios Bell por John Bardeen, Walter Brattain y
            William Shockley, sustituyó poco a poco a las válvulas de vacío, que eran grandes, frágiles y
            consumían mucha energía. Los tres investigadores recibieron el Premio Nobel de Física en 1956. Con
            el tiempo, los transistores se hicieron tan pequeños que miles de millones de ellos caben en un
            chip del tamaño de una uña. Gordon Moore observó en 1965 que el número de componentes por circuito
            integrado se duplicaba a un ritmo regular, una tendencia que se conoce como ley de Moore y que ha
            guiado a la industria durante décadas.""",
            Q("¿Dónde se presentó el transistor?", "en los Laboratorios Bell", "los Laboratorios Bell"),
            Q("¿Qué dispositivos sustituyó el transistor?", "las válvulas de vacío", "válvulas de vacío"),
            Q("¿Cuándo recibieron el Nobel los tres investigadores?", "1956", "en 1956"),
            Q("¿Cómo se conoce la tendencia que observó Gordon Moore?", "ley de Moore", "como ley de Moore"),
            N("¿Quién inventó el circuito integrado?", "Gordon Moore"),
        ),
        P(
            """El código QR fue creado en 1994 por la empresa japonesa Denso Wave, filial de un fabricante de
            componentes para automóviles, con el fin de seguir las piezas en las cadenas de montaje. A
            diferencia del código de barras tradicional, que se lee en una sola dirección, el QR almacena
            información en dos dimensiones y puede contener varios miles de caracteres. Además, incorpora
            corrección de errores, de modo que se lee aunque una parte esté sucia o dañada. La compañía
            decidió no ejercer sus derechos de patente, lo que facilitó su adopción en todo el mundo. Su uso
            se disparó durante la pandemia de 2020, cuando muchos restaurantes sustituyeron la carta impresa
            por un código pegado en la mesa.""",
            Q("¿En qué año se creó el código QR?", "1994", "en 1994"),
            Q("¿Qué empresa creó el código QR?", "Denso Wave", "la empresa japonesa Denso Wave"),
            Q(
                "¿Para qué se creó el código QR?",
                "seguir las piezas en las cadenas de montaje",
                "con el fin de seguir las piezas en las cadenas de montaje",
            ),
            Q(
                "¿Por qué se puede leer un QR aunque una parte esté dañada?",
                "incorpora corrección de errores",
                "corrección de errores",
            ),
            Q(
                "¿Qué facilitó la adopción del QR en todo el mundo?",
                "La compañía decidió no ejercer sus derechos de patente",
                "no ejercer sus derechos de patente",
            ),
            N("¿Qué significan las siglas QR?", "Denso Wave"),
            N(
                "¿Cuántos caracteres puede contener un código de barras tradicional?",
                "varios miles de caracteres",
            ),
        ),
        P(
            """La cooperativa rosarina Nodo Sur empezó en 2016 como un grupo de cuatro programadoras que
            desarrollaban aplicaciones para comercios de barrio. Su primer éxito fue Changuito, una aplicación
            que permitía a los almacenes recibir pedidos por mensajería y organizar los repartos en bicicleta.
            En 2021 la cooperativa ya tenía 38 socios y había abierto una oficina en Córdoba. Todas las
            decisiones importantes se votan en una asamblea mensual, y cada socio tiene un voto,
            independientemente de su antigüedad. Sus miembros publican buena parte del código con licencia
            libre, porque consideran que así otros grupos pueden aprovecharlo y mejorarlo.""",
            Q("¿Cuántas personas fundaron Nodo Sur?", "cuatro programadoras", "cuatro"),
            Q("¿Cómo se llamaba el primer éxito de la cooperativa?", "Changuito"),
            Q("¿En qué ciudad abrió la cooperativa una oficina?", "Córdoba", "en Córdoba"),
            Q("¿Cada cuánto se reúne la asamblea de Nodo Sur?", "mensual"),
            Q(
                "¿Por qué publican el código con licencia libre?",
                "porque consideran que así otros grupos pueden aprovecharlo y mejorarlo",
                "otros grupos pueden aprovecharlo y mejorarlo",
            ),
            N("¿Cuántos socios tenía la cooperativa en 2016?", "38"),
        ),
    )
)

ARTICLES.append(
    A(
        "Deporte",
        P(
            """El 11 de julio de 2010, la selección española de fútbol ganó por primera vez la Copa Mundial al
            vencer a los Países Bajos por 1 a 0 en el estadio Soccer City de Johannesburgo. El partido fue muy
            áspero y se resolvió en la prórroga, en el minuto 116, con un disparo de Andrés Iniesta tras un
            pase de Cesc Fàbregas. El equipo, dirigido por Vicente del Bosque, había perdido su primer
            encuentro del torneo ante Suiza, algo que ningún campeón había hecho antes. Dos años antes, España
            había ganado la Eurocopa, y en 2012 volvería a conquistarla.""",
            Q("¿A qué selección venció España en la final?", "los Países Bajos", "Países Bajos"),
            Q("¿Quién marcó el gol de la victoria?", "Andrés Iniesta", "Iniesta"),
            Q("¿En qué minuto llegó el gol?", "116", "el minuto 116"),
            Q("¿Quién dirigía a la selección española?", "Vicente del Bosque"),
            Q("¿Contra quién perdió España su primer partido del torneo?", "Suiza", "ante Suiza"),
            Q("¿En qué estadio se jugó la final?", "Soccer City", "el estadio Soccer City de Johannesburgo"),
            N("¿Quién fue el máximo goleador del torneo?", "Andrés Iniesta"),
        ),
        P(
            """Rafael Nadal, nacido en Manacor (Mallorca) en 1986, ganó el torneo de Roland Garros por primera
            vez en 2005, con solo 19 años. A lo largo de su carrera levantó el trofeo de París en 14
            ocasiones, una cifra que ningún otro tenista ha alcanzado en un mismo torneo de Grand Slam. Su
            juego sobre tierra batida combinaba un golpe de derecha con mucho efecto liftado, una enorme
            resistencia física y una gran capacidad para defender. En total sumó 22 títulos de Grand Slam. Se
            retiró en noviembre de 2024, durante la Copa Davis disputada en Málaga.""",
            Q("¿Dónde nació Rafael Nadal?", "Manacor", "Manacor (Mallorca)"),
            Q("¿Cuántas veces ganó Nadal Roland Garros?", "14 ocasiones", "en 14 ocasiones", "14"),
            Q("¿Cuántos años tenía Nadal cuando ganó su primer Roland Garros?", "19", "19 años"),
            Q("¿Cuántos títulos de Grand Slam sumó Nadal?", "22", "22 títulos de Grand Slam"),
            Q("¿En qué ciudad se retiró Nadal?", "Málaga", "en Málaga"),
            N("¿En qué año ganó Nadal su último Roland Garros?", "2005"),
        ),
        P(
            """La Carrera de las Tres Lagunas se celebra cada primer domingo de octubre en la localidad
            soriana de Valdeluna, y debe su nombre a las lagunas glaciares que los participantes rodean
            durante el recorrido. La primera edición, en 1998, reunió a 64 corredores, casi todos vecinos del
            pueblo. Hoy el cupo está limitado a 1200 dorsales, que se agotan en pocas horas. El trazado mide
            27 kilómetros y acumula 1100 metros de desnivel positivo. El récord masculino pertenece al
            burgalés Iker Salcedo, que en 2019 completó la prueba en 1 hora y 58 minutos; el femenino lo tiene
            la navarra Ainhoa Lasa desde 2022.""",
            Q(
                "¿Cuándo se celebra la Carrera de las Tres Lagunas?",
                "cada primer domingo de octubre",
                "primer domingo de octubre",
            ),
            Q("¿Cuántos corredores participaron en la primera edición?", "64", "64 corredores"),
            Q("¿Cuánto mide el trazado?", "27 kilómetros"),
            Q("¿Quién tiene el récord masculino?", "Iker Salcedo", "burgalés Iker Salcedo"),
            Q(
                "¿Por qué la carrera recibe ese nombre?",
                "debe su nombre a las lagunas glaciares que los participantes rodean durante el recorrido",
                "las lagunas glaciares que los participantes rodean durante el recorrido",
            ),
            N("¿Cuál es el tiempo del récord femenino?", "1 hora y 58 minutos"),
            N("¿Cuántos dorsales se ofrecieron en la primera edición?", "1200"),
        ),
    )
)

ARTICLES.append(
    A(
        "Músicas de tradición popular",
        P(
            """El flamenco es un arte que une el cante, el toque de la guitarra y el baile, y que se
            desarrolló sobre todo en Andalucía a partir del siglo XVIII, con aportaciones de las culturas
            gitana, morisca, judía y castellana. Sus formas musicales se llaman palos; entre los más conocidos
            están la soleá, la seguiriya, las alegrías y las bulerías. Cada palo tiene su propio compás, y
            algunos se organizan en ciclos de doce tiempos. En noviembre de 2010, la UNESCO lo inscribió en la
            lista del Patrimonio Cultural Inmaterial de la Humanidad. Figuras como Camarón de la Isla y Paco
            de Lucía lo llevaron a públicos de todo el mundo.""",
            Q("¿Cómo se llaman las formas musicales del flamenco?", "palos"),
            Q("¿En cuántos tiempos se organizan algunos ciclos del flamenco?", "doce tiempos", "doce"),
            Q(
                "¿Cuándo inscribió la UNESCO el flamenco en su lista?",
                "En noviembre de 2010",
                "noviembre de 2010",
            ),
            Q("¿Qué tres elementos une el flamenco?", "el cante, el toque de la guitarra y el baile"),
            Q("¿A partir de qué siglo se desarrolló el flamenco?", "del siglo XVIII", "siglo XVIII"),
            N("¿En qué ciudad nació Paco de Lucía?", "Andalucía"),
        ),
        P(
            """El tango nació a finales del siglo XIX en los barrios populares y los puertos de Buenos Aires y
            Montevideo, donde se mezclaban inmigrantes europeos, descendientes de africanos y criollos. Al
            principio se bailaba en patios, academias y cafés, y no gozaba de buena reputación entre las
            clases acomodadas. Su triunfo en los salones de París, hacia 1913, cambió esa imagen. El
            bandoneón, un instrumento de fuelle de origen alemán, terminó convirtiéndose en su símbolo. Carlos
            Gardel popularizó el tango canción, y más tarde Astor Piazzolla lo renovó con influencias del jazz
            y de la música clásica. Argentina y Uruguay obtuvieron conjuntamente su reconocimiento por la
            UNESCO en 2009.""",
            Q("¿En qué ciudades nació el tango?", "Buenos Aires y Montevideo"),
            Q("¿Qué instrumento se convirtió en el símbolo del tango?", "El bandoneón", "bandoneón"),
            Q("¿De qué origen es el bandoneón?", "de origen alemán", "alemán"),
            Q("¿Quién renovó el tango con influencias del jazz?", "Astor Piazzolla"),
            Q(
                "¿Qué cambió la mala imagen del tango entre las clases acomodadas?",
                "Su triunfo en los salones de París",
                "triunfo en los salones de París",
            ),
            N("¿En qué año murió Carlos Gardel?", "1913"),
        ),
        P(
            """Cada agosto, el pueblo costero de Puerto Almendro, en el Caribe colombiano, celebra el Festival
            de Gaitas y Tambores, fundado en 1987 por la maestra de escuela Rosalba Mercado. Durante cuatro
            noches, agrupaciones de toda la región compiten en tres categorías: gaita larga, gaita corta y
            canto tradicional. El premio principal, la Gaita de Oro, consiste en una flauta tallada en madera
            de guayacán por artesanos locales. En 2018, la organización añadió una categoría infantil para que
            los niños aprendieran el oficio de los mayores. La gaita es una flauta de origen indígena que se
            fabrica con el tallo de un cactus y una cabeza de cera de abejas.""",
            Q(
                "¿Quién fundó el Festival de Gaitas y Tambores?",
                "Rosalba Mercado",
                "la maestra de escuela Rosalba Mercado",
            ),
            Q("¿Cuántas noches dura el festival?", "cuatro noches", "cuatro"),
            Q("¿Cómo se llama el premio principal del festival?", "la Gaita de Oro", "Gaita de Oro"),
            Q(
                "¿Con qué se fabrica la gaita?",
                "con el tallo de un cactus y una cabeza de cera de abejas",
                "el tallo de un cactus y una cabeza de cera de abejas",
            ),
            Q(
                "¿Para qué se añadió una categoría infantil?",
                "para que los niños aprendieran el oficio de los mayores",
            ),
            N("¿En qué año se añadió la categoría de canto tradicional?", "2018"),
        ),
    )
)

ARTICLES.append(
    A(
        "Cocina de las dos orillas",
        P(
            """La paella nació en los campos de arroz que rodean la Albufera de Valencia, donde los
            trabajadores cocinaban al aire libre con lo que tenían a mano. Su nombre procede del recipiente en
            que se prepara, una sartén ancha y poco profunda con dos asas. La receta valenciana tradicional
            lleva pollo, conejo, judía verde, garrofó, tomate, aceite de oliva, azafrán y, en algunas
            comarcas, caracoles. Se cuece preferentemente sobre fuego de leña de naranjo, y muchos cocineros
            buscan el socarrat, la fina capa de arroz tostado que queda pegada al fondo. Cada 20 de septiembre
            se celebra el Día Mundial de la Paella.""",
            Q(
                "¿Dónde nació la paella?",
                "en los campos de arroz que rodean la Albufera de Valencia",
                "la Albufera de Valencia",
            ),
            Q("¿De dónde procede el nombre de la paella?", "del recipiente en que se prepara"),
            Q(
                "¿Cómo se llama la capa de arroz tostado que queda pegada al fondo?",
                "el socarrat",
                "socarrat",
            ),
            Q("¿Qué leña se prefiere para cocinar la paella?", "leña de naranjo", "naranjo"),
            Q("¿Cuándo se celebra el Día Mundial de la Paella?", "Cada 20 de septiembre", "20 de septiembre"),
            N("¿Qué marisco lleva la paella valenciana tradicional?", "caracoles"),
        ),
        P(
            """El ceviche es uno de los platos emblemáticos del Perú. Se prepara con pescado crudo cortado en
            dados y macerado durante pocos minutos en jugo de limón, con cebolla roja, sal y ají. La acidez
            del limón modifica las proteínas del pescado y le da una textura parecida a la de un alimento
            cocido. Suele servirse acompañado de camote, maíz y hojas de lechuga. El líquido que queda en el
            plato, llamado leche de tigre, se bebe a veces por separado y tiene fama de reconstituyente. En
            2023, la UNESCO reconoció la preparación y el consumo del ceviche como Patrimonio Cultural
            Inmaterial de la Humanidad, y en el Perú se celebra un día nacional en su honor cada 28 de junio.
            """,
            Q("¿En qué se macera el pescado del ceviche?", "en jugo de limón", "jugo de limón"),
            Q("¿Cómo se llama el líquido que queda en el plato?", "leche de tigre"),
            Q("¿Con qué se suele acompañar el ceviche?", "camote, maíz y hojas de lechuga"),
            Q(
                "¿Cuándo se celebra en el Perú el día nacional del ceviche?",
                "cada 28 de junio",
                "28 de junio",
            ),
            Q(
                "¿Qué le da al pescado una textura parecida a la de un alimento cocido?",
                "La acidez del limón",
                "acidez del limón",
            ),
            N(
                "¿Qué especie de pescado se emplea en el ceviche tradicional?",
                "pescado crudo cortado en dados",
            ),
        ),
        P(
            """El mole poblano es una salsa espesa y oscura de la cocina mexicana que combina varios tipos de
            chiles secos, como el mulato, el ancho y el pasilla, con especias, semillas, frutos secos, pan,
            tortilla y una pequeña cantidad de chocolate. Una leyenda muy repetida atribuye su invención a las
            monjas del convento de Santa Rosa, en Puebla, que lo habrían preparado para agasajar a un virrey.
            La elaboración tradicional puede llevar dos días, porque cada ingrediente se tuesta o se fríe por
            separado antes de molerlo. Se sirve normalmente sobre pavo o pollo y se espolvorea con ajonjolí.
            """,
            Q(
                "¿Qué chiles secos lleva el mole poblano?",
                "el mulato, el ancho y el pasilla",
                "mulato, el ancho y el pasilla",
            ),
            Q(
                "¿A quiénes atribuye la leyenda la invención del mole?",
                "a las monjas del convento de Santa Rosa",
                "las monjas del convento de Santa Rosa",
            ),
            Q(
                "¿Por qué la elaboración tradicional puede llevar dos días?",
                "porque cada ingrediente se tuesta o se fríe por separado antes de molerlo",
                "cada ingrediente se tuesta o se fríe por separado antes de molerlo",
            ),
            Q("¿Con qué se espolvorea el mole?", "ajonjolí", "con ajonjolí"),
            Q("¿Sobre qué se sirve normalmente el mole?", "sobre pavo o pollo", "pavo o pollo"),
            N("¿Cómo se llamaba el virrey al que agasajaron las monjas?", "un virrey"),
        ),
    )
)

ARTICLES.append(
    A(
        "Dinero y economía",
        P(
            """El 1 de enero de 2002 empezaron a circular en doce países de la Unión Europea los billetes y
            monedas de euro, aunque la moneda ya existía desde 1999 para operaciones electrónicas y bancarias.
            En España, la peseta, que llevaba en uso desde 1868, convivió con el euro durante dos meses y dejó
            de ser de curso legal a finales de febrero de 2002. El tipo de cambio se fijó en 166,386 pesetas
            por euro, una cifra que muchos ciudadanos redondeaban para hacer cuentas de cabeza. El Banco
            Central Europeo, con sede en Fráncfort, es el responsable de la política monetaria de la zona del
            euro.""",
            Q(
                "¿Cuándo empezaron a circular los billetes y monedas de euro?",
                "El 1 de enero de 2002",
                "1 de enero de 2002",
            ),
            Q("¿Desde qué año estaba en uso la peseta?", "1868", "desde 1868"),
            Q(
                "¿Cuál fue el tipo de cambio fijado entre la peseta y el euro?",
                "166,386 pesetas por euro",
                "166,386 pesetas",
            ),
            Q("¿Dónde tiene su sede el Banco Central Europeo?", "Fráncfort", "en Fráncfort"),
            Q("¿Durante cuánto tiempo convivieron la peseta y el euro?", "durante dos meses", "dos meses"),
            N("¿Cuántos países usan hoy el euro?", "doce países"),
        ),
        P(
            """La cooperativa olivarera San Isidro, de Villanueva del Olmo, en la provincia de Jaén, agrupa a
            412 agricultores y molturó en la última campaña unos 18 millones de kilos de aceituna. De esa
            cantidad obtuvo cerca de 3,9 millones de kilos de aceite, lo que supone un rendimiento medio del
            21,7 %. La mayor parte se vende a granel a grandes envasadoras, pero desde 2015 la cooperativa
            comercializa también un aceite virgen extra con marca propia, Olmo Verde, que exporta a Japón y
            Canadá. Según su presidenta, Encarnación Ruiz, la marca propia permite obtener un precio más alto,
            aunque exige invertir en diseño, certificaciones y promoción.""",
            Q("¿Cuántos agricultores agrupa la cooperativa?", "412", "412 agricultores"),
            Q("¿Cuál fue el rendimiento medio de la aceituna?", "21,7 %", "del 21,7 %"),
            Q(
                "¿A qué países exporta la cooperativa su aceite de marca propia?",
                "Japón y Canadá",
                "a Japón y Canadá",
            ),
            Q("¿Quién preside la cooperativa?", "Encarnación Ruiz"),
            Q("¿Cómo se llama la marca propia de la cooperativa?", "Olmo Verde"),
            N("¿Cuántos kilos de aceite vende la cooperativa a Japón?", "3,9 millones de kilos"),
        ),
        P(
            """La inflación es el aumento generalizado y sostenido de los precios de bienes y servicios
            durante un periodo de tiempo. Cuando los precios suben, cada unidad de dinero compra menos cosas,
            de modo que quien guarda sus ahorros en efectivo pierde poder adquisitivo. En la zona del euro, el
            Banco Central Europeo considera adecuada una inflación del 2 % a medio plazo. Para medirla, los
            institutos de estadística elaboran el índice de precios de consumo, conocido como IPC, a partir de
            una cesta de productos que representa el gasto típico de los hogares. Si la inflación se dispara,
            los bancos centrales suelen subir los tipos de interés para frenar el crédito y el consumo.""",
            Q("¿Qué inflación considera adecuada el Banco Central Europeo?", "2 %", "del 2 % a medio plazo"),
            Q("¿Cómo se conoce el índice de precios de consumo?", "IPC"),
            Q("¿Qué pierde quien guarda sus ahorros en efectivo?", "poder adquisitivo"),
            Q(
                "¿Qué suelen hacer los bancos centrales si la inflación se dispara?",
                "subir los tipos de interés",
            ),
            Q(
                "¿Para qué suben los bancos centrales los tipos de interés?",
                "para frenar el crédito y el consumo",
                "frenar el crédito y el consumo",
            ),
            N("¿Qué instituto elabora el IPC en España?", "los institutos de estadística"),
        ),
    )
)

ARTICLES.append(
    A(
        "Letras en español",
        P(
            """La primera parte de El ingenioso hidalgo don Quijote de la Mancha se publicó en Madrid en 1605,
            y la segunda apareció en 1615, un año antes de la muerte de su autor, Miguel de Cervantes. La
            novela narra las aventuras de un hidalgo que, de tanto leer libros de caballerías, pierde el
            juicio y decide hacerse caballero andante. Lo acompaña Sancho Panza, un labrador práctico y
            hablador al que promete el gobierno de una ínsula. Entre los episodios más famosos está el de los
            molinos de viento, que don Quijote confunde con gigantes. Muchos críticos la consideran la primera
            novela moderna.""",
            Q("¿En qué año se publicó la primera parte del Quijote?", "1605", "en 1605"),
            Q("¿Qué le promete don Quijote a Sancho Panza?", "el gobierno de una ínsula"),
            Q("¿Con qué confunde don Quijote los molinos de viento?", "gigantes", "con gigantes"),
            Q("¿Por qué pierde el juicio el hidalgo?", "de tanto leer libros de caballerías"),
            Q("¿Cuándo apareció la segunda parte?", "1615", "en 1615"),
            N("¿En qué ciudad murió Miguel de Cervantes?", "Madrid"),
        ),
        P(
            """Gabriel García Márquez nació en 1927 en Aracataca, un pueblo del Caribe colombiano que inspiró
            en parte a Macondo, el escenario de muchas de sus ficciones. Trabajó durante años como periodista
            antes de publicar, en 1967, Cien años de soledad, la novela que cuenta la historia de siete
            generaciones de la familia Buendía. El libro se convirtió enseguida en un éxito de ventas y en el
            emblema del llamado realismo mágico, en el que los hechos extraordinarios se narran con toda
            naturalidad. En 1982 recibió el Premio Nobel de Literatura. Sus amigos lo llamaban Gabo.""",
            Q("¿Dónde nació García Márquez?", "Aracataca", "en Aracataca"),
            Q("¿Qué familia protagoniza Cien años de soledad?", "la familia Buendía", "Buendía"),
            Q("¿De cuántas generaciones cuenta la historia la novela?", "siete generaciones", "siete"),
            Q("¿Cómo llamaban sus amigos a García Márquez?", "Gabo"),
            Q(
                "¿En qué trabajó García Márquez antes de publicar su novela más famosa?",
                "como periodista",
                "periodista",
            ),
            N("¿En qué ciudad se publicó Cien años de soledad?", "Aracataca"),
        ),
        P(
            """Gabriela Mistral es el seudónimo de Lucila Godoy Alcayaga, poeta y maestra chilena nacida en
            1889 en Vicuña, en el valle del Elqui. Antes de ser conocida como escritora trabajó durante años
            como profesora rural, y más tarde colaboró en la reforma educativa de México, invitada por el
            ministro José Vasconcelos. En 1945 se convirtió en la primera persona de América Latina en recibir
            el Premio Nobel de Literatura. Sus libros, como Desolación y Ternura, tratan con frecuencia la
            infancia, la maternidad y la muerte. Su rostro aparece en el billete chileno de 5000 pesos.""",
            Q("¿Cuál era el verdadero nombre de Gabriela Mistral?", "Lucila Godoy Alcayaga"),
            Q("¿En qué año recibió Gabriela Mistral el Premio Nobel?", "1945", "En 1945"),
            Q(
                "¿Quién invitó a Mistral a colaborar en la reforma educativa de México?",
                "José Vasconcelos",
                "el ministro José Vasconcelos",
            ),
            Q("¿En qué billete aparece su rostro?", "el billete chileno de 5000 pesos", "5000 pesos"),
            Q("¿Qué temas tratan con frecuencia sus libros?", "la infancia, la maternidad y la muerte"),
            N("¿En qué año murió Gabriela Mistral?", "1889"),
        ),
    )
)

ARTICLES.append(
    A(
        "Más allá de la Tierra",
        P(
            """La Luna es el único satélite natural de la Tierra y se encuentra a una distancia media de unos
            384 400 kilómetros. Siempre nos muestra la misma cara porque tarda lo mismo en girar sobre sí
            misma que en dar una vuelta alrededor de nuestro planeta, unos 27 días. El 20 de julio de 1969,
            los astronautas Neil Armstrong y Buzz Aldrin, de la misión Apolo 11, fueron los primeros seres
            humanos en caminar sobre su superficie, mientras Michael Collins permanecía en órbita. Entre 1969
            y 1972, doce personas pisaron la Luna. Las mareas de los océanos se deben principalmente a su
            atracción gravitatoria.""",
            Q(
                "¿A qué distancia media se encuentra la Luna?",
                "unos 384 400 kilómetros",
                "384 400 kilómetros",
            ),
            Q("¿Quién permaneció en órbita durante la misión Apolo 11?", "Michael Collins"),
            Q("¿Cuántas personas pisaron la Luna entre 1969 y 1972?", "doce personas", "doce"),
            Q(
                "¿A qué se deben principalmente las mareas de los océanos?",
                "a su atracción gravitatoria",
                "su atracción gravitatoria",
            ),
            Q("¿Cuánto tarda la Luna en dar una vuelta alrededor de la Tierra?", "unos 27 días", "27 días"),
            N("¿Quién fue el último ser humano en pisar la Luna?", "Buzz Aldrin"),
        ),
        P(
            """Marte, el cuarto planeta del sistema solar, debe su color rojizo al óxido de hierro que cubre
            buena parte de su superficie. Su día, llamado sol por los científicos, dura unas 24 horas y 40
            minutos, muy parecido al terrestre, pero su año equivale a unos 687 días de la Tierra. En Marte se
            encuentra el Monte Olimpo, un volcán de unos 22 kilómetros de altura, el más alto conocido del
            sistema solar. Tiene dos pequeñas lunas, Fobos y Deimos. Desde 2021, el vehículo Perseverance
            explora el cráter Jezero en busca de rastros de vida microbiana antigua y recoge muestras de roca
            que otra misión deberá traer algún día a la Tierra.""",
            Q("¿A qué debe Marte su color rojizo?", "al óxido de hierro", "óxido de hierro"),
            Q("¿Cómo llaman los científicos al día marciano?", "sol"),
            Q("¿Cuántos días terrestres dura el año marciano?", "unos 687 días", "687"),
            Q("¿Cómo se llaman las lunas de Marte?", "Fobos y Deimos"),
            Q("¿Qué cráter explora el vehículo Perseverance?", "el cráter Jezero", "Jezero"),
            N("¿Qué altura tiene el volcán más alto de la Tierra?", "unos 22 kilómetros"),
        ),
        P(
            """En el Observatorio del Roque de los Muchachos, en la isla de La Palma, a unos 2400 metros de
            altitud, se encuentra el Gran Telescopio Canarias, conocido como GTC. Su espejo principal mide
            10,4 metros de diámetro y no es una sola pieza: está formado por 36 segmentos hexagonales que se
            ajustan continuamente para comportarse como una superficie única. Fue inaugurado en 2009 y figura
            entre los mayores telescopios ópticos del mundo. Para proteger la calidad del cielo, una ley
            regula desde 1988 el alumbrado público de la isla, que debe evitar enviar luz hacia arriba.""",
            Q("¿En qué isla se encuentra el Gran Telescopio Canarias?", "La Palma", "la isla de La Palma"),
            Q("¿Cuánto mide el espejo principal del GTC?", "10,4 metros de diámetro", "10,4 metros"),
            Q("¿De cuántos segmentos está formado el espejo?", "36", "36 segmentos hexagonales"),
            Q("¿Desde cuándo regula una ley el alumbrado público de la isla?", "desde 1988", "1988"),
            Q("¿En qué año fue inaugurado el GTC?", "2009", "en 2009"),
            N("¿En qué año comenzó la construcción del GTC?", "2009"),
        ),
    )
)

ARTICLES.append(
    A(
        "Leyes y ciudadanía",
        P(
            """La Constitución española vigente fue aprobada por las Cortes el 31 de octubre de 1978,
            ratificada en referéndum el 6 de diciembre de ese año y publicada en el Boletín Oficial del Estado
            el 29 de diciembre, fecha en que entró en vigor. Consta de 169 artículos, organizados en un título
            preliminar y diez títulos. Define a España como un Estado social y democrático de Derecho y
            establece como forma política la monarquía parlamentaria. Desde su aprobación solo se ha reformado
            en contadas ocasiones; la primera, en 1992, permitió que los ciudadanos de otros países de la
            Unión Europea pudieran presentarse como candidatos en las elecciones municipales.""",
            Q(
                "¿Cuándo se ratificó la Constitución en referéndum?",
                "el 6 de diciembre de ese año",
                "6 de diciembre",
            ),
            Q("¿Cuántos artículos tiene la Constitución?", "169", "169 artículos"),
            Q(
                "¿Qué forma política establece la Constitución?",
                "la monarquía parlamentaria",
                "monarquía parlamentaria",
            ),
            Q("¿En qué año se hizo la primera reforma?", "1992", "en 1992"),
            Q("¿Cuándo entró en vigor la Constitución?", "el 29 de diciembre", "29 de diciembre"),
            N("¿Cuántos votos afirmativos obtuvo la Constitución en el referéndum?", "169"),
            N("¿En qué año se hizo la segunda reforma de la Constitución?", "1992"),
        ),
        P(
            """Cuando una persona compra un producto por internet a una empresa establecida en la Unión
            Europea, dispone en general de un plazo de 14 días naturales para desistir del contrato sin
            necesidad de dar explicaciones. En el caso de los bienes, ese derecho de desistimiento se cuenta
            desde el día en que el consumidor recibe el pedido. Si el vendedor no informa de este derecho, el
            plazo se amplía hasta doce meses adicionales. Hay excepciones: no pueden devolverse, por ejemplo,
            los productos hechos a medida ni los alimentos perecederos. Una vez comunicado el desistimiento,
            la empresa debe reembolsar lo pagado en un máximo de 14 días.""",
            Q(
                "¿De qué plazo dispone el comprador para desistir del contrato?",
                "14 días naturales",
                "un plazo de 14 días naturales",
            ),
            Q(
                "¿Desde cuándo se cuenta el plazo en el caso de los bienes?",
                "desde el día en que el consumidor recibe el pedido",
                "el día en que el consumidor recibe el pedido",
            ),
            Q(
                "¿Cuánto se amplía el plazo si el vendedor no informa de este derecho?",
                "hasta doce meses adicionales",
                "doce meses adicionales",
            ),
            Q("¿Qué alimentos no pueden devolverse?", "los alimentos perecederos", "alimentos perecederos"),
            Q(
                "¿En qué plazo debe la empresa reembolsar lo pagado?",
                "en un máximo de 14 días",
                "un máximo de 14 días",
            ),
            N("¿Quién paga los gastos de devolución del producto?", "la empresa"),
        ),
        P(
            """En España, la Ley Orgánica del Tribunal del Jurado, de 1995, permite que ciudadanos sin
            formación jurídica participen en la administración de justicia. Un jurado está compuesto por nueve
            personas, elegidas por sorteo entre los vecinos de la provincia, y por un magistrado que lo
            preside. Para formar parte de él hay que ser mayor de edad, saber leer y escribir y no tener
            antecedentes penales sin cancelar, entre otros requisitos. El jurado se pronuncia sobre los hechos
            y sobre la culpabilidad; para declarar culpable al acusado se necesitan al menos siete votos.
            Después, el magistrado fija la pena.""",
            Q("¿De cuántas personas se compone un jurado?", "nueve personas", "nueve"),
            Q(
                "¿Cómo se elige a los miembros del jurado?",
                "por sorteo",
                "por sorteo entre los vecinos de la provincia",
            ),
            Q(
                "¿Cuántos votos se necesitan para declarar culpable al acusado?",
                "al menos siete votos",
                "siete votos",
                "siete",
            ),
            Q("¿Quién fija la pena?", "el magistrado", ("magistrado", 1)),
            Q("¿De qué año es la Ley Orgánica del Tribunal del Jurado?", "1995", "de 1995"),
            N("¿Cuántos votos se necesitan para declarar no culpable al acusado?", "al menos siete votos"),
        ),
    )
)

ARTICLES.append(
    A(
        "Salud y cuerpo humano",
        P(
            """En 1796, el médico inglés Edward Jenner observó que las ordeñadoras que se habían contagiado de
            viruela bovina, una enfermedad leve, no enfermaban de viruela humana. Para comprobarlo, inoculó
            material de una lesión de viruela bovina a un niño de ocho años, James Phipps, y semanas después
            lo expuso a la viruela, sin que el niño se contagiara. De ese experimento procede la palabra
            vacuna, derivada del latín vacca. Gracias a campañas de vacunación en todo el mundo, la
            Organización Mundial de la Salud declaró erradicada la viruela en 1980. Es, hasta hoy, la única
            enfermedad humana eliminada por completo.""",
            Q("¿Quién era James Phipps?", "un niño de ocho años"),
            Q("¿De qué palabra latina deriva vacuna?", "vacca"),
            Q("¿En qué año se declaró erradicada la viruela?", "1980", "en 1980"),
            Q("¿De qué enfermedad leve se habían contagiado las ordeñadoras?", ("viruela bovina", 0)),
            Q(
                "¿Qué organismo declaró erradicada la viruela?",
                "la Organización Mundial de la Salud",
                "Organización Mundial de la Salud",
            ),
            N("¿En qué año murió Edward Jenner?", "1796"),
        ),
        P(
            """Los especialistas recomiendan que un adulto duerma entre siete y nueve horas cada noche,
            mientras que los adolescentes necesitan algo más, entre ocho y diez. Durante el sueño se alternan
            varias fases; en la llamada fase REM, por las siglas en inglés de movimientos oculares rápidos, se
            producen la mayoría de los sueños más vívidos. Dormir poco de forma habitual se asocia con peor
            memoria, más irritabilidad y mayor riesgo de obesidad y de enfermedades cardiovasculares. Entre
            los consejos más repetidos están mantener horarios regulares, evitar la cafeína por la tarde y
            apagar las pantallas un rato antes de acostarse, porque su luz retrasa la producción de
            melatonina.""",
            Q("¿Cuántas horas debería dormir un adulto cada noche?", "entre siete y nueve horas"),
            Q("¿Qué significan las siglas REM?", "movimientos oculares rápidos"),
            Q(
                "¿Por qué conviene apagar las pantallas antes de acostarse?",
                "porque su luz retrasa la producción de melatonina",
                "su luz retrasa la producción de melatonina",
            ),
            Q("¿Cuántas horas de sueño necesitan los adolescentes?", "entre ocho y diez"),
            Q("¿Qué conviene evitar por la tarde?", "la cafeína", "cafeína"),
            N("¿Cuántas horas necesitan dormir los bebés?", "entre ocho y diez"),
        ),
        P(
            """La dieta mediterránea se basa en el consumo abundante de verduras, frutas, legumbres, cereales
            y frutos secos, con el aceite de oliva como grasa principal, pescado con frecuencia y poca carne
            roja. Más que una lista de alimentos, incluye también hábitos como compartir la mesa y cocinar
            productos de temporada. En 2010, la UNESCO la reconoció como Patrimonio Cultural Inmaterial, en
            una candidatura conjunta de España, Italia, Grecia y Marruecos, a la que se sumaron en 2013
            Chipre, Croacia y Portugal. El estudio español PREDIMED, con miles de participantes, asoció este
            patrón con un menor riesgo de infarto e ictus.""",
            Q(
                "¿Cuál es la grasa principal de la dieta mediterránea?",
                "el aceite de oliva",
                "aceite de oliva",
            ),
            Q(
                "¿Qué países presentaron la candidatura conjunta en 2010?",
                "España, Italia, Grecia y Marruecos",
            ),
            Q("¿Cuándo se sumaron Chipre, Croacia y Portugal a la candidatura?", "2013", "en 2013"),
            Q("¿Cómo se llama el estudio español que analizó este patrón?", "PREDIMED"),
            Q(
                "¿Con qué menor riesgo se asoció la dieta mediterránea?",
                "infarto e ictus",
                "un menor riesgo de infarto e ictus",
            ),
            N("¿Cuántos participantes tuvo el estudio PREDIMED?", "miles de participantes"),
        ),
    )
)

ARTICLES.append(
    A(
        "Arte y arquitectura",
        P(
            """Diego Velázquez pintó Las meninas en 1656, cuando era pintor de cámara del rey Felipe IV. En el
            centro del cuadro aparece la infanta Margarita rodeada de sus damas de compañía, las meninas,
            junto a una enana, un perro y otros miembros de la corte. El propio Velázquez se retrató a la
            izquierda, con el pincel en la mano, frente a un gran lienzo. Al fondo, un espejo refleja las
            figuras del rey y de la reina, lo que ha alimentado durante siglos el debate sobre qué está
            pintando el artista. La obra se conserva en el Museo del Prado de Madrid.""",
            Q("¿En qué año pintó Velázquez Las meninas?", "1656", "en 1656"),
            Q("¿Quién aparece en el centro del cuadro?", "la infanta Margarita", "infanta Margarita"),
            Q("¿Qué refleja el espejo del fondo?", "las figuras del rey y de la reina"),
            Q("¿Dónde se conserva la obra?", "en el Museo del Prado de Madrid", "Museo del Prado"),
            Q("¿Para qué rey trabajaba Velázquez como pintor de cámara?", "Felipe IV", "rey Felipe IV"),
            N("¿Cómo se llamaba la reina reflejada en el espejo?", "la infanta Margarita"),
        ),
        P(
            """Las obras del templo de la Sagrada Familia, en Barcelona, comenzaron en 1882 bajo la dirección
            del arquitecto Francisco de Paula del Villar. Un año después, el encargo pasó a un joven Antoni
            Gaudí, que transformó por completo el proyecto y le dedicó los últimos años de su vida. Cuando
            murió, en 1926, atropellado por un tranvía, solo estaba terminada una de las torres. El templo se
            ha financiado siempre con donativos y con la venta de entradas, y por eso su construcción ha
            avanzado con lentitud. En 2010 fue consagrado como basílica y en 2023 se completaron las torres de
            los cuatro evangelistas.""",
            Q(
                "¿Quién dirigió al principio las obras de la Sagrada Familia?",
                "Francisco de Paula del Villar",
                "arquitecto Francisco de Paula del Villar",
            ),
            Q("¿Cómo murió Gaudí?", "atropellado por un tranvía"),
            Q("¿Cuántas torres estaban terminadas cuando murió Gaudí?", "una de las torres"),
            Q("¿Cómo se ha financiado el templo?", "con donativos y con la venta de entradas"),
            Q("¿Cuándo fue consagrado el templo como basílica?", "En 2010", "2010"),
            N("¿En qué año está previsto terminar el templo?", "2023"),
        ),
        P(
            """Frida Kahlo nació en 1907 en Coyoacán, hoy parte de la Ciudad de México, en la casa familiar
            que todos conocen como la Casa Azul. A los dieciocho años sufrió un grave accidente cuando el
            autobús en que viajaba chocó con un tranvía, y pasó largos meses en cama. Fue entonces cuando
            empezó a pintar, con un espejo colocado sobre el dosel para poder retratarse a sí misma. Alrededor
            de un tercio de su obra son autorretratos. Se casó dos veces con el muralista Diego Rivera. Desde
            1958, la Casa Azul funciona como museo dedicado a su vida y a su obra. ¡Cada año la visitan
            cientos de miles de personas!""",
            Q("¿Dónde nació Frida Kahlo?", "Coyoacán", "en Coyoacán"),
            Q("¿Con qué chocó el autobús en que viajaba?", "un tranvía", "con un tranvía"),
            Q(
                "¿Para qué colocó un espejo sobre el dosel?",
                "para poder retratarse a sí misma",
                "poder retratarse a sí misma",
            ),
            Q("¿Con quién se casó Frida Kahlo?", "Diego Rivera", "el muralista Diego Rivera"),
            Q("¿Desde cuándo funciona la Casa Azul como museo?", "Desde 1958", "1958"),
            Q("¿Qué parte de su obra son autorretratos?", "Alrededor de un tercio", "un tercio"),
            N("¿En qué año murió Diego Rivera?", "1958"),
        ),
    )
)

ARTICLES.append(
    A(
        "Trenes, canales y cables",
        P(
            """La primera línea española de alta velocidad, entre Madrid y Sevilla, se inauguró el 14 de abril
            de 1992, pocos días antes de la apertura de la Exposición Universal de Sevilla. A diferencia de la
            red convencional, se construyó con el ancho de vía internacional, de 1435 milímetros, el mismo que
            se utiliza en la mayor parte de Europa. El trayecto de unos 470 kilómetros, que antes llevaba más
            de seis horas, pasó a recorrerse en menos de tres. Desde entonces la red no ha dejado de crecer, y
            hoy España cuenta con la red de alta velocidad más extensa de Europa.""",
            Q(
                "¿Cuándo se inauguró la primera línea española de alta velocidad?",
                "el 14 de abril de 1992",
                "14 de abril de 1992",
            ),
            Q(
                "¿Qué ancho de vía se usó en la línea?",
                "el ancho de vía internacional",
                "de 1435 milímetros",
                "1435 milímetros",
            ),
            Q("¿Cuánto mide el trayecto entre Madrid y Sevilla?", "unos 470 kilómetros", "470 kilómetros"),
            Q("¿Cuánto duraba el viaje antes de la alta velocidad?", "más de seis horas"),
            Q(
                "¿Qué acontecimiento se abrió pocos días después de la inauguración?",
                "la Exposición Universal de Sevilla",
                "Exposición Universal de Sevilla",
            ),
            N(
                "¿Cuál es la velocidad máxima de los trenes en la línea Madrid-Sevilla?",
                "unos 470 kilómetros",
            ),
        ),
        P(
            """El canal de Panamá, abierto a la navegación el 15 de agosto de 1914, une el océano Atlántico
            con el Pacífico a través de unos 80 kilómetros del istmo. Como el terreno es más alto que el nivel
            del mar, los barcos suben y bajan mediante sistemas de esclusas que se llenan con agua dulce del
            lago Gatún, un embalse artificial. Estados Unidos, que terminó la obra tras el fracaso de un
            intento francés, controló el canal hasta el 31 de diciembre de 1999, cuando pasó a manos
            panameñas. En 2016 se inauguraron unas esclusas más grandes, que permiten el paso de buques mucho
            mayores.""",
            Q(
                "¿Cuándo se abrió el canal de Panamá a la navegación?",
                "el 15 de agosto de 1914",
                "15 de agosto de 1914",
                "1914",
            ),
            Q("¿De dónde procede el agua que llena las esclusas?", "del lago Gatún", "lago Gatún"),
            Q("¿Qué país terminó la construcción del canal?", "Estados Unidos"),
            Q(
                "¿Cuándo pasó el canal a manos panameñas?",
                "el 31 de diciembre de 1999",
                "31 de diciembre de 1999",
            ),
            Q(
                "¿Por qué los barcos necesitan esclusas para cruzar el canal?",
                "el terreno es más alto que el nivel del mar",
                "Como el terreno es más alto que el nivel del mar",
            ),
            N("¿En qué año comenzó el intento francés de construir el canal?", "1914"),
        ),
        P(
            """En 2014 comenzó a funcionar en La Paz y El Alto, en Bolivia, la red de transporte urbano por
            cable conocida como Mi Teleférico. Sus cabinas cuelgan de cables que salvan el desnivel de varios
            cientos de metros entre ambas ciudades, un recorrido que por carretera puede llevar más de una
            hora en horas punta. Cada línea se identifica con un color, y la línea Roja fue la primera en
            abrirse. El sistema se ha convertido también en un atractivo turístico, porque ofrece vistas de la
            ciudad y de las montañas nevadas de la cordillera Real.""",
            Q("¿Cuándo comenzó a funcionar Mi Teleférico?", "En 2014", "2014"),
            Q("¿Qué ciudades une Mi Teleférico?", "La Paz y El Alto"),
            Q("¿Cuál fue la primera línea en abrirse?", "la línea Roja", "línea Roja"),
            Q("¿Cómo se identifica cada línea?", "con un color"),
            Q("¿De qué cordillera se ven las montañas nevadas?", "la cordillera Real", "cordillera Real"),
            N("¿Cuántos pasajeros transporta Mi Teleférico cada día?", "varios cientos"),
            N("¿Qué línea fue la última en abrirse?", "la línea Roja"),
        ),
    )
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the JSON")
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    try:
        dataset = build()
    except SampleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    payload = render(dataset).encode("utf-8")
    counts = ", ".join(f"{k} {v}" for k, v in summarize(dataset).items())
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != payload:
            print(f"{args.output} is out of date; run scripts/build_sample.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({counts})")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(payload)
    print(f"wrote {args.output} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

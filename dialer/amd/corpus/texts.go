package corpus

// What people and machines say when a call is answered. Sentences of a
// greeting are rendered with pauses between them.

// humanWord are the commonest answers: one word, then waiting for the
// caller.
var humanWord = map[string][]string{
	"es": {"¿Aló?", "¿Bueno?", "¿Diga?", "Dígame.", "¿Hola?", "¿Sí?", "Mande.", "¿Quién?", "¿María?", "¿Aló?", "¿Bueno?"},
	"en": {"Hello?", "Hi.", "Yes?", "Yeah?", "Speaking.", "Hey.", "Hello?"},
}

// humanPhrase are short answers of a few words.
var humanPhrase = map[string][]string{
	"es": {
		"Sí, diga.", "Aló, ¿sí?", "Sí, dígame.", "¿Aló? ¿Quién habla?", "Sí, ¿quién es?", "¿Bueno? ¿Quién habla?",
		"Buenas tardes.", "Hola, buenas.", "Buenos días.", "Habla Carlos.", "Sí, con él.", "¿Aló? Sí.", "¿Bueno, sí?",
	},
	"en": {
		"Hello, who's this?", "This is Mike.", "Good afternoon.", "Hi, who is calling?", "Hello, John speaking.",
		"Yeah, hello?", "Hello? Yes?", "Sarah here.",
	},
}

// humanLong are longer answers: still a person, who then waits.
var humanLong = map[string][]string{
	"es": {
		"Hola, buenas tardes, ¿con quién hablo?", "¿Aló? Sí, habla José, ¿quién es?",
		"Buenos días, ¿en qué le puedo ayudar?", "Sí, ella habla, ¿de parte de quién?",
		"¿Bueno? Sí, aquí estoy, ¿quién llama?",
	},
	"en": {
		"Hello, this is Sarah, who am I speaking with?", "Hi, yes, this is David, how can I help you?",
		"Good morning, Johnson residence.", "Hello? Yes, this is she, who's calling?",
	},
}

// humanAgain is what people say when nobody answers their greeting.
var humanAgain = map[string][]string{
	"es": {"¿Aló?", "¿Bueno?", "¿Hola? ¿Quién es?", "¿Aló? ¿Aló?", "¿Hay alguien?"},
	"en": {"Hello?", "Hello? Anyone there?", "Hello? Hello?", "Who is this?"},
}

// carrier are network voicemail and announcement greetings, by sentence.
var carrier = map[string][][]string{
	"es": {
		{"El número que usted marcó no está disponible.", "Por favor, deje su mensaje después del tono."},
		{"Su llamada está siendo transferida al buzón de voz.", "Grabe su mensaje después de la señal."},
		{"La persona que usted llama no se encuentra disponible en este momento.", "Por favor, intente más tarde o deje su mensaje."},
		{"Bienvenido al buzón de voz de", "cinco, cinco, uno, dos, tres, cuatro, cinco, seis.", "Deje su mensaje después del tono. Al terminar, puede colgar."},
		{"El teléfono móvil al que llama está apagado o fuera del área de cobertura.", "Deje su mensaje después del tono."},
		{"Usted ha sido comunicado con el sistema de mensajes.", "El usuario no está disponible.", "Deje su mensaje."},
	},
	"en": {
		{"The person you are trying to reach is not available.", "At the tone, please record your message.", "When you have finished recording, you may hang up."},
		{"Your call has been forwarded to an automatic voice message system.", "Five five five, one two three four, is not available.", "At the tone, please record your message."},
		{"The wireless customer you are calling is not available.", "Please leave a message after the tone."},
		{"Please leave a message after the tone."},
		{"The number you have dialed is not available.", "Please try again later, or leave a message after the beep."},
	},
}

// personal are greetings people record themselves, by sentence.
var personal = map[string][][]string{
	"es": {
		{"Hola, soy María.", "No puedo contestar ahora.", "Deja tu mensaje y te devuelvo la llamada."},
		{"Hola, has llamado a Carlos.", "En este momento no puedo atenderte, deja tu mensaje después del tono."},
		{"Hola.", "Soy Ana.", "Deja tu mensaje."},
		{"Qué tal, habla Jorge.", "Estoy ocupado, déjame tu nombre y número y te llamo en cuanto pueda.", "Gracias."},
		{"Buenas, este es el teléfono de la familia Gómez.", "Deje su mensaje."},
		{"Hola, te comunicaste con Lucía.", "Ahora no puedo atender.", "Mándame un mensaje o deja tu recado."},
		{"Consultorio del doctor Pérez.", "Nuestro horario es de lunes a viernes de nueve a seis.", "Deje su nombre y teléfono."},
	},
	"en": {
		{"Hi, this is Mike.", "I can't take your call right now.", "Leave a message and I'll get back to you."},
		{"Hey, it's Sarah!", "Sorry I missed you.", "Leave your name and number after the beep."},
		{"You've reached the Johnsons.", "We're not home right now, please leave a message."},
		{"Hello, you have reached Doctor Smith's office.", "Our hours are nine to five, Monday through Friday.", "Please leave a message."},
		{"Hi.", "You know what to do."},
		{"This is Dave.", "Leave a message."},
	},
}

// prank greetings pretend to answer: a machine every detector takes for a
// person. A few are in the corpus because they exist.
var prank = map[string][][]string{
	"es": {{"¿Aló?", "Jaja, es una grabación.", "Deja tu mensaje."}},
	"en": {{"Hello?", "Just kidding, I'm not here.", "Leave a message."}},
}

// beepFreqs are beep frequencies heard on voicemail systems (Hz); half the
// beeps use one of these, the rest any frequency from 400 to 2000 Hz.
var beepFreqs = []float64{440, 480, 500, 800, 850, 900, 950, 1000, 1000, 1000, 1100, 1200, 1400, 1500, 1800, 2000}

// triTones are three-note beeps (Hz).
var triTones = [][3]float64{{950, 1400, 1800}, {1800, 1400, 950}, {600, 800, 1000}}

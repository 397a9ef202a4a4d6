#!/bin/sh
# Regenerates the spoken voicemail prompts (8 kHz mono A-law WAV, embedded in the binary).
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox). Run from this directory.
set -eu

say() { # lang voice name text
	mkdir -p "$1"
	espeak-ng -v "$2" -s 150 -w "/tmp/prompt-$$.wav" "$4"
	sox -D "/tmp/prompt-$$.wav" -r 8000 -c 1 -e a-law -b 8 "$1/$3.wav" norm -3
	rm -f "/tmp/prompt-$$.wav"
}

lang() { # lang voice, the texts of the names below in order, then zero..twenty
	l=$1 v=$2
	shift 2
	for name in greeting full pin badpin none new saved menu message deleted kept nomore goodbye recgreet greetok; do
		say "$l" "$v" "$name" "$1"
		shift
	done
	n=0
	for word in "$@"; do
		say "$l" "$v" "n$n" "$word"
		n=$((n + 1))
	done
}

lang en en-gb \
	"The person you are calling is not available. Please leave a message after the tone." \
	"Sorry, this mailbox is full. Goodbye." \
	"Please enter your PIN, then press hash." \
	"Wrong PIN." \
	"You have no messages." \
	"new messages." \
	"saved messages." \
	"Press 1 for the next message, 2 to repeat, 7 to delete, 9 to save, 0 to record your greeting, hash to hang up." \
	"Message" \
	"Deleted." \
	"Saved." \
	"No more messages." \
	"Goodbye." \
	"After the tone, say your greeting, then press hash." \
	"Your greeting is saved." \
	zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty

lang fr fr-fr \
	"Votre correspondant n'est pas disponible. Laissez un message après le bip." \
	"Désolé, cette messagerie est pleine. Au revoir." \
	"Tapez votre code, puis dièse." \
	"Code incorrect." \
	"Vous n'avez aucun message." \
	"nouveaux messages." \
	"messages sauvegardés." \
	"Tapez 1 pour le message suivant, 2 pour le réécouter, 7 pour l'effacer, 9 pour le garder, 0 pour enregistrer votre annonce, dièse pour raccrocher." \
	"Message" \
	"Effacé." \
	"Sauvegardé." \
	"Plus de messages." \
	"Au revoir." \
	"Après le bip, dites votre annonce, puis tapez dièse." \
	"Votre annonce est enregistrée." \
	zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept dix-huit dix-neuf vingt

lang de de \
	"Der gewünschte Teilnehmer ist nicht erreichbar. Bitte sprechen Sie nach dem Signalton." \
	"Diese Mailbox ist leider voll. Auf Wiederhören." \
	"Bitte geben Sie Ihre PIN ein, dann Raute." \
	"Falsche PIN." \
	"Sie haben keine Nachrichten." \
	"neue Nachrichten." \
	"gespeicherte Nachrichten." \
	"Eins für die nächste Nachricht, zwei zum Wiederholen, sieben zum Löschen, neun zum Speichern, null für Ihre Ansage, Raute zum Auflegen." \
	"Nachricht" \
	"Gelöscht." \
	"Gespeichert." \
	"Keine weiteren Nachrichten." \
	"Auf Wiederhören." \
	"Sprechen Sie nach dem Signalton Ihre Ansage, dann Raute." \
	"Ihre Ansage ist gespeichert." \
	null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn zwanzig

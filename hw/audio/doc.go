// Package audio is the handset's sound hardware as the phone's media path sees it: devices that
// capture and play 20 ms frames of 8 kHz mono 16-bit audio (ReadFrame/WriteFrame).
//
// Backends: FileDevice plays a WAV file as the microphone and records the speaker to a WAV file,
// NullDevice keeps time and discards audio; the audiotest package holds a scriptable fake.
// Every backend paces ReadFrame to real time, so the audio loop that reads from it runs at 50 Hz.
package audio

import "time"

// Format of every device in this package.
const (
	SampleRate  = 8000
	FrameLength = 160 // samples per 20 ms frame
	FramePeriod = 20 * time.Millisecond
)

package amd

// The word rules, and the revision of a provisional decision.

// applyRules applies the word rules to one frame (frame index s.frame) and
// returns what they conclude, "" for nothing yet.
func (d *Detector) applyRules(voice, tone bool, level float64) (Result, Cause) {
	s := &d.st
	switch {
	case tone:
		// A tone is neither a word nor the silence of someone waiting.
		s.inWord, s.voiceRun, s.runPeak, s.runVoiced, s.silence = false, 0, 0, 0, 0
		if s.toneRun >= d.nBeepMin {
			if s.greeting || s.voiced > 0 {
				return Machine, CauseBeep
			}
			return Machine, CauseTone
		}
	case voice:
		s.silence = 0
		s.voiceRun++
		s.lastVoice = s.frame
		s.runPeak = max(s.runPeak, level)
		// A run quieter than the speaker's words by more than the range is
		// someone else (a television, the room): it holds off the silence
		// that would make a person, but is not counted as the greeting.
		if s.greeting && d.p.SpeechRangeDB > 0 && s.runPeak < s.peak-d.p.SpeechRangeDB {
			break
		}
		s.voiced += s.voiceRun - s.runVoiced
		s.runVoiced = s.voiceRun
		s.lastSpeaker = s.frame
		if s.voiceRun >= d.nMinWord && !s.inWord {
			if !s.greeting {
				s.greeting, s.greetAt = true, s.frame-s.voiceRun+1
			}
			s.inWord = true
			s.words++
		}
		if s.inWord {
			s.peak = max(s.peak, level)
		}
		switch {
		case s.voiceRun >= d.nMaxWordLen:
			return Machine, CauseMaxWordLength
		case s.words > d.p.MaximumNumberOfWords:
			return Machine, CauseMaxWords
		case s.greeting && s.voiced >= d.nGreeting:
			return Machine, CauseLongGreeting
		}
	default:
		s.silence++
		if s.silence >= d.nBetween {
			s.inWord, s.voiceRun, s.runPeak, s.runVoiced = false, 0, 0, 0
		}
		switch {
		case !s.greeting && s.silence >= d.nInitialSilence:
			return d.p.InitialSilenceResult, CauseInitialSilence
		case s.greeting && d.nShortGreeting > 0 && s.lastVoice-s.greetAt < d.nShortGreeting && s.silence >= d.nShortSilence:
			return Human, CauseShortGreeting
		case s.greeting && s.silence >= d.nAfterGreeting:
			return Human, CauseAfterGreetingSilence
		}
	}
	return "", ""
}

// reviseRules runs while a human or notsure decision is provisional
// (revise_within) and returns Machine with a cause when the "person" turns
// out to be a recording. Until the speaker has been quiet for
// confirm_silence (voices in the room do not hold that off), the
// greeting's rules keep counting: a voicemail reads on after a pause, a
// person said their word and waits for us. After it, the person's later
// words ("¿aló?" again, or talking to the agent) are not the greeting, and
// only a beep revises: a tone of beep.min_length no more than
// speech_range_db under the greeting's loudest word (the echo of our own
// prompt is far quieter than the far end's voicemail).
func (d *Detector) reviseRules(voice, tone bool, level float64) (Result, Cause) {
	s := &d.st
	s.heardVoice = s.heardVoice || voice
	if s.confirmed {
		voice = false
	}
	if tone && s.greeting && d.p.SpeechRangeDB > 0 && level < s.peak-d.p.SpeechRangeDB {
		tone = false // neither the greeting nor its beep: silence here
	}
	r, c := d.applyRules(voice, tone, level)
	if r == Machine {
		if c == CauseTone && s.heardVoice {
			c = CauseBeep // a greeting we no longer counted came first
		}
		return r, c
	}
	if !s.confirmed && s.greeting && s.frame-s.lastSpeaker >= d.nConfirm {
		s.confirmed = true
	}
	return "", ""
}

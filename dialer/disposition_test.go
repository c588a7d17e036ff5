package dialer

import "testing"

func TestDisposition(t *testing.T) {
	cases := []struct {
		code    int
		timeout bool
		want    string
	}{
		{200, false, Answered}, {486, false, Busy}, {600, false, Busy},
		{480, false, NoAnswer}, {408, false, NoAnswer}, {487, true, NoAnswer}, {487, false, Cancelled},
		{603, false, Rejected}, {403, false, Rejected},
		{404, false, InvalidNumber}, {484, false, InvalidNumber}, {410, false, InvalidNumber}, {604, false, InvalidNumber},
		{500, false, NetworkError}, {503, false, NetworkError}, {502, false, NetworkError},
		{401, false, ConfigError}, {407, false, ConfigError}, {488, false, ConfigError},
		{402, false, Rejected}, {302, false, NetworkError}, {0, false, NetworkError},
	}
	for _, c := range cases {
		if got := Disposition(c.code, c.timeout); got != c.want {
			t.Errorf("Disposition(%d, %v) = %s, want %s", c.code, c.timeout, got, c.want)
		}
	}
}

package dialer

import (
	"testing"

	"github.com/marcador/marcador/analytics"
)

func TestDisposition(t *testing.T) {
	cases := []struct {
		code    int
		timeout bool
		want    string
	}{
		{200, false, analytics.Answered}, {486, false, analytics.Busy}, {600, false, analytics.Busy},
		{480, false, analytics.NoAnswer}, {408, false, analytics.NoAnswer}, {487, true, analytics.NoAnswer}, {487, false, analytics.Cancelled},
		{603, false, analytics.Rejected}, {403, false, analytics.Rejected},
		{404, false, analytics.InvalidNumber}, {484, false, analytics.InvalidNumber}, {410, false, analytics.InvalidNumber}, {604, false, analytics.InvalidNumber},
		{500, false, analytics.NetworkError}, {503, false, analytics.NetworkError}, {502, false, analytics.NetworkError},
		{401, false, analytics.ConfigError}, {407, false, analytics.ConfigError}, {488, false, analytics.ConfigError},
		{402, false, analytics.Rejected}, {302, false, analytics.NetworkError}, {0, false, analytics.NetworkError},
	}
	for _, c := range cases {
		if got := Disposition(c.code, c.timeout); got != c.want {
			t.Errorf("Disposition(%d, %v) = %s, want %s", c.code, c.timeout, got, c.want)
		}
	}
}

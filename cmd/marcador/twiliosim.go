//go:build !prod

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/sms/twiliotest"
)

func runTwilioSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("twiliosim", "twiliosim [-listen ADDR] [-account-sid AC...] [-auth-token T] [-from +E164,...]", stderr)
	listen := fs.String("listen", "127.0.0.1:15080", "HTTP address to serve the Messages API on")
	sid := fs.String("account-sid", "AC0d3e0d3e0d3e0d3e0d3e0d3e0d3e0d3e", "account SID it accepts (twilio.account_sid)")
	token := fs.String("auth-token", "dev0d3e0d3e0d3e0d3e0d3e0d3e0d3e0", "auth token it accepts and signs callbacks with (twilio.auth_token)")
	from := fs.String("from", "", "comma-separated sender numbers it owns (empty: any)")
	logLevel := fs.String("log", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, _ := loadConfig("")
	cfg.Log.Level = *logLevel
	opt := twiliotest.Options{Listen: *listen, AccountSID: *sid, AuthToken: *token, Logger: app.NewLogger(cfg.Log, stderr)}
	if *from != "" {
		opt.Numbers = strings.Split(*from, ",")
	}
	s, err := twiliotest.Start(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "twiliosim: Twilio Messages API for %s on %s; every message is delivered (signed callbacks); Ctrl-C stops\n", *sid, s.URL())
	<-ctx.Done()
	s.Close()
	fmt.Fprintf(stdout, "twiliosim: %d messages\n", len(s.Messages()))
	return nil
}

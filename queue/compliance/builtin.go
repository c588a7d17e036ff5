package compliance

import "github.com/marcador/marcador/analytics"

// Builtin returns the shipped profiles (see the README's compliance table),
// compiled. Each call returns fresh copies.
func Builtin() map[string]*Profile {
	ps := []*Profile{
		{Name: "US", Holidays: "US", // Reg F (12 CFR 1006), TCPA
			Windows: map[string][]string{"all": {"08:00-21:00"}},
			Caps: []Cap{
				{Channel: analytics.Voice, Max: 7, Per: "7d", Scope: "debt"},
				{After: KindConversation, Quiet: "7d", Channel: analytics.Voice, Scope: "debt"},
			}},
		{Name: "UK", Holidays: "UK", // Ofcom persistent misuse policy; hours are the campaign's, these are a conservative default
			Windows: map[string][]string{"all": {"08:00-21:00"}},
			Caps: []Cap{
				{After: KindAbandoned, Quiet: "72h", Unless: "agent_guaranteed", Channel: analytics.Voice},
			}},
		{Name: "CO", Holidays: "CO", ClosedOnHolidays: true, // Ley 2300 de 2023
			Windows: map[string][]string{"mon": {"07:00-19:00"}, "tue": {"07:00-19:00"}, "wed": {"07:00-19:00"},
				"thu": {"07:00-19:00"}, "fri": {"07:00-19:00"}, "sat": {"08:00-15:00"}},
			Caps: []Cap{
				{MaxContacts: 1, Per: "day"},
				{ChannelsPerWeek: 1},
			}},
		{Name: "MX", Holidays: "MX", // CONDUSEF, Ley para la Transparencia (art. 17 Bis y ss.)
			Windows: map[string][]string{"all": {"07:00-22:00"}}},
		{Name: "CL", Holidays: "CL", ClosedOnHolidays: true, // Ley 19.496 art. 37 (Ley 21.320)
			Windows: map[string][]string{"mon": {"08:00-20:00"}, "tue": {"08:00-20:00"}, "wed": {"08:00-20:00"},
				"thu": {"08:00-20:00"}, "fri": {"08:00-20:00"}, "sat": {"08:00-20:00"}},
			Caps: []Cap{
				{Channel: analytics.Voice, Max: 1, Per: "week"},
				{Channels: []analytics.Channel{analytics.SMS, analytics.WhatsApp}, Max: 2, Per: "week"},
				{Channels: []analytics.Channel{analytics.SMS, analytics.WhatsApp}, MinGap: "2d"},
			}},
		{Name: "PE", Holidays: "PE", ClosedOnHolidays: true, // Código de Protección y Defensa del Consumidor, art. 62
			Windows: map[string][]string{"mon": {"07:00-20:00"}, "tue": {"07:00-20:00"}, "wed": {"07:00-20:00"},
				"thu": {"07:00-20:00"}, "fri": {"07:00-20:00"}}},
	}
	out := map[string]*Profile{}
	for _, p := range ps {
		if err := p.Compile(); err != nil {
			panic(err) // the shipped profiles are tested
		}
		out[p.Name] = p
	}
	return out
}

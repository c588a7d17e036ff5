// Package portfolio generates realistic, deterministic demo portfolios of
// debtors in Mexico, Colombia and Chile for the demo and the benchmarks.
package portfolio

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
)

// Options control one portfolio. The same Options give the same accounts.
type Options struct {
	N         int
	Countries []string // among MX, CO, CL; default all three
	Seed      int64
	Now       time.Time
	IDPrefix  string // default: the country code, e.g. "MX-000123"
}

type country struct {
	code, currency string
	given, surname []string
	zones          []weighted
	// mobile returns a national significant number for a mobile line.
	mobile func(r *rand.Rand) string
	dial   string
	// balance range in major units and whether cents are used
	minBal, maxBal float64
	cents          bool
	nationalID     func(r *rand.Rand) string
}

type weighted struct {
	v string
	w int
}

func pickW(r *rand.Rand, ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += w.w
	}
	n := r.IntN(total)
	for _, w := range ws {
		if n < w.w {
			return w.v
		}
		n -= w.w
	}
	return ws[0].v
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func digits(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	return b.String()
}

var countries = map[string]country{
	"MX": {
		code: "MX", currency: "MXN", dial: "52",
		given: []string{"José Luis", "María Guadalupe", "Juan Carlos", "Ana María", "Luis Fernando", "Guadalupe", "Alejandro",
			"Verónica", "Francisco Javier", "Claudia", "Miguel Ángel", "Leticia", "Jorge", "Rosa María", "Ricardo", "Patricia",
			"Arturo", "Gabriela", "Eduardo", "Adriana", "Roberto", "Norma Angélica", "Jesús", "Alejandra", "Héctor", "Yolanda",
			"Sergio", "Martha Elena", "Fernando", "Silvia", "Víctor Manuel", "Mónica", "Raúl", "Lorena", "Óscar", "Fernanda",
			"Diego", "Ximena", "Emiliano", "Regina"},
		surname: []string{"Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez", "Ramírez",
			"Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres", "Díaz", "Gutiérrez", "Ruiz", "Mendoza",
			"Aguilar", "Ortiz", "Moreno", "Castillo", "Romero", "Álvarez", "Méndez", "Chávez", "Rivera", "Juárez", "Ramos",
			"Domínguez", "Herrera", "Medina", "Castro", "Vargas", "Guzmán", "Velázquez", "Rojas"},
		zones: []weighted{{"America/Mexico_City", 70}, {"America/Monterrey", 15}, {"America/Tijuana", 8}, {"America/Cancun", 7}},
		mobile: func(r *rand.Rand) string {
			area := pick(r, []string{"55", "33", "81", "222", "442", "477", "664", "998", "999", "614"})
			return area + digits(r, 10-len(area))
		},
		minBal: 800, maxBal: 95000, cents: true,
		nationalID: func(r *rand.Rand) string { // CURP-shaped: 4 letters, 6 digits, H/M, 5 letters, 2 chars
			l := func(n int) string {
				var b strings.Builder
				for range n {
					b.WriteByte(byte('A' + r.IntN(26)))
				}
				return b.String()
			}
			return l(4) + digits(r, 6) + pick(r, []string{"H", "M"}) + l(5) + digits(r, 1) + digits(r, 1)
		},
	},
	"CO": {
		code: "CO", currency: "COP", dial: "57",
		given: []string{"Santiago", "Valentina", "Juan David", "María José", "Sebastián", "Daniela", "Andrés Felipe", "Luisa Fernanda",
			"Carlos Andrés", "Natalia", "Juan Pablo", "Laura", "Camilo", "Paula Andrea", "Diego Alejandro", "Carolina", "Jhon Jairo",
			"Diana Marcela", "Óscar Iván", "Sandra Milena", "Luis Eduardo", "Ángela", "Jorge Enrique", "Martha Lucía", "Julián",
			"Lina María", "Mauricio", "Yuliana", "Felipe", "Catalina", "Nicolás", "Isabella", "Alejandro", "Mariana", "Esteban",
			"Juliana", "Hernán", "Claudia Patricia", "Wilson", "Gloria Inés"},
		surname: []string{"Rodríguez", "Gómez", "González", "Martínez", "García", "López", "Hernández", "Sánchez", "Ramírez",
			"Pérez", "Díaz", "Muñoz", "Rojas", "Moreno", "Jiménez", "Vargas", "Castro", "Gutiérrez", "Ortiz", "Álvarez", "Ruiz",
			"Suárez", "Torres", "Restrepo", "Ospina", "Cardona", "Zapata", "Osorio", "Arango", "Londoño", "Quintero", "Mejía",
			"Valencia", "Ríos", "Salazar", "Cárdenas", "Giraldo", "Agudelo", "Bedoya", "Acosta"},
		zones: []weighted{{"America/Bogota", 1}},
		mobile: func(r *rand.Rand) string {
			pfx := pick(r, []string{"300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316", "317", "318", "319", "320", "321", "322", "323", "350", "351"})
			return pfx + digits(r, 7)
		},
		minBal: 150000, maxBal: 25000000,
		nationalID: func(r *rand.Rand) string { return fmt.Sprint(1000000 + r.IntN(1099000000)) },
	},
	"CL": {
		code: "CL", currency: "CLP", dial: "56",
		given: []string{"Benjamín", "Catalina", "Vicente", "Sofía", "Matías", "Constanza", "Agustín", "Francisca", "Tomás",
			"Javiera", "Joaquín", "Fernanda", "Cristóbal", "Valentina", "Maximiliano", "Antonia", "Felipe", "Camila", "Diego",
			"Martina", "Sebastián", "Isidora", "Ignacio", "Josefa", "Nicolás", "Florencia", "Gonzalo", "Trinidad", "Rodrigo",
			"Paula", "Claudio", "Carolina", "Patricio", "Macarena", "Sergio", "Daniela", "Mauricio", "Ximena", "Pablo", "Bárbara"},
		surname: []string{"González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva", "Martínez", "Sepúlveda",
			"Morales", "Rodríguez", "López", "Fuentes", "Hernández", "Torres", "Araya", "Flores", "Espinoza", "Valenzuela",
			"Castillo", "Tapia", "Reyes", "Gutiérrez", "Castro", "Pizarro", "Álvarez", "Vásquez", "Sánchez", "Fernández",
			"Ramírez", "Carrasco", "Gómez", "Cortés", "Herrera", "Núñez", "Jara", "Vergara", "Rivera", "Figueroa"},
		zones:  []weighted{{"America/Santiago", 1}},
		mobile: func(r *rand.Rand) string { return "9" + fmt.Sprint(1+r.IntN(9)) + digits(r, 7) },
		minBal: 40000, maxBal: 6000000,
		nationalID: func(r *rand.Rand) string {
			n := 5000000 + r.IntN(22000000)
			return formatRUT(n)
		},
	},
}

// birthDate is a debtor's date of birth, 20 to 75 years before today,
// derived from the account id so the other fields of a seed stay as they
// were before birth dates existed.
func birthDate(id string, today time.Time) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return today.AddDate(-75, 0, int(h.Sum32()%(55*365))).Format(queue.DateLayout)
}

// formatRUT writes a Chilean RUT with dots and its mod-11 check digit.
func formatRUT(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return b.String() + "-" + rutCheck(n)
}

func rutCheck(n int) string {
	sum, mul := 0, 2
	for ; n > 0; n /= 10 {
		sum += (n % 10) * mul
		mul++
		if mul > 7 {
			mul = 2
		}
	}
	switch d := 11 - sum%11; d {
	case 11:
		return "0"
	case 10:
		return "K"
	default:
		return fmt.Sprint(d)
	}
}

var products = []string{"tarjeta de crédito", "préstamo personal", "crédito de nómina", "microcrédito"}
var creditors = map[string][]string{
	"MX": {"Banco Azteca Demo", "Financiera Independencia Demo", "Crédito Familiar Demo"},
	"CO": {"Banco Caja Social Demo", "Financiera Comultrasan Demo", "Tuya Demo"},
	"CL": {"Banco Estado Demo", "Tarjeta Cencosud Demo", "Caja Los Andes Demo"},
}

// Segment names the collection stage for a days-past-due figure.
func Segment(dpd int) string {
	switch {
	case dpd <= 0:
		return "preventive"
	case dpd <= 30:
		return "early"
	case dpd <= 90:
		return "mid"
	}
	return "late"
}

// Generate returns opt.N accounts spread evenly over the countries.
func Generate(opt Options) []queue.Account {
	cs := opt.Countries
	if len(cs) == 0 {
		cs = []string{"MX", "CO", "CL"}
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	r := rand.New(rand.NewPCG(uint64(opt.Seed), 0x6d617263))
	today := time.Date(opt.Now.Year(), opt.Now.Month(), opt.Now.Day(), 0, 0, 0, 0, time.UTC)
	out := make([]queue.Account, 0, opt.N)
	seq := map[string]int{}
	for i := range opt.N {
		c, ok := countries[strings.ToUpper(cs[i%len(cs)])]
		if !ok {
			continue
		}
		seq[c.code]++
		prefix := opt.IDPrefix
		if prefix == "" {
			prefix = c.code + "-"
		}
		zone := pickW(r, c.zones)
		nPhones := 1 + r.IntN(3)
		var phones []queue.Phone
		for range nPhones {
			phones = append(phones, queue.Phone{Number: mobileNumber(r, c), TimeZones: []string{zone}})
		}
		dueOffset := r.IntN(201) - 180 // 180 days ago .. 20 days ahead
		due := today.AddDate(0, 0, dueOffset)
		dpd := max(0, -dueOffset)
		id := fmt.Sprintf("%s%06d", prefix, seq[c.code])
		out = append(out, queue.Account{
			ID:          id,
			BirthDate:   birthDate(id, today),
			Name:        pick(r, c.given) + " " + pick(r, c.surname) + " " + pick(r, c.surname),
			NationalID:  c.nationalID(r),
			Phones:      phones,
			Balance:     balance(r, c),
			Currency:    c.currency,
			DueDate:     due.Format(queue.DateLayout),
			DaysPastDue: dpd,
			Country:     c.code,
			TimeZone:    zone,
			Language:    "es",
			Segment:     Segment(dpd),
			Fields:      map[string]string{"product": pick(r, products), "creditor": pick(r, creditors[c.code])},
		})
	}
	return out
}

// mobileNumber draws until the numbering plan accepts the number as a mobile:
// operators' real ranges are patchier than any prefix list.
func mobileNumber(r *rand.Rand, c country) string {
	for {
		n := "+" + c.dial + c.mobile(r)
		num, err := phonenumbers.Parse(n, "")
		if err != nil || !phonenumbers.IsValidNumberForRegion(num, c.code) {
			continue
		}
		if t := phonenumbers.GetNumberType(num); t == phonenumbers.MOBILE || t == phonenumbers.FIXED_LINE_OR_MOBILE {
			return n
		}
	}
}

// balance draws from a log-uniform distribution: many small debts, a long tail.
func balance(r *rand.Rand, c country) decimal.Decimal {
	v := math.Exp(math.Log(c.minBal) + r.Float64()*(math.Log(c.maxBal)-math.Log(c.minBal)))
	if c.cents {
		return decimal.NewFromFloat(v).Round(2)
	}
	return decimal.NewFromFloat(v).Round(-2) // whole pesos, rounded to hundreds
}

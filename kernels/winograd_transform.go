package kernels

// One-dimensional Winograd transforms, applied elementwise along runs of
// channels: every argument is a run of the same length (the first output's),
// and element q of the outputs is the transform of element q of the inputs.
// A 2-D transform is two passes, over the columns and then the rows of a
// tile.
//
// Point order: 0, +a, −a, +b, −b, ∞ for F(4, 3) (a = winoA, b = winoB) and
// 0, +1, −1, ∞ for F(2, 3). Row j of Bᵀ holds the coefficients of
// Π_{l≠j}(x − p_l) (for ∞: of Π_l (x − p_l)), row j of G is
// [1, p_j, p_j²]/Π_{l≠j}(p_j − p_l) ([0, 0, 1] for ∞), and column j of Aᵀ
// holds the powers p_j^i ([0, …, 0, 1] for ∞).

// winoBT6 computes (o0..o5) = Bᵀ (d0..d5) for F(4, 3).
func winoBT6(o0, o1, o2, o3, o4, o5, d0, d1, d2, d3, d4, d5 []float32) {
	n := len(o0)
	o1, o2, o3, o4, o5 = o1[:n], o2[:n], o3[:n], o4[:n], o5[:n]
	d0, d1, d2, d3, d4, d5 = d0[:n], d1[:n], d2[:n], d3[:n], d4[:n], d5[:n]
	for q := range o0 {
		x1, x2, x3, x4 := d1[q], d2[q], d3[q], d4[q]
		o0[q] = wA2B2*d0[q] - wSum2*x2 + x4
		p := x4 - wB2*x2
		s := winoA * (x3 - wB2*x1)
		o1[q] = p + s
		o2[q] = p - s
		p = x4 - wA2*x2
		s = winoB * (x3 - wA2*x1)
		o3[q] = p + s
		o4[q] = p - s
		o5[q] = wA2B2*x1 - wSum2*x3 + d5[q]
	}
}

// winoAT6 computes (y0..y3) = Aᵀ (m0..m5) for F(4, 3).
func winoAT6(y0, y1, y2, y3, m0, m1, m2, m3, m4, m5 []float32) {
	n := len(y0)
	y1, y2, y3 = y1[:n], y2[:n], y3[:n]
	m0, m1, m2, m3, m4, m5 = m0[:n], m1[:n], m2[:n], m3[:n], m4[:n], m5[:n]
	for q := range y0 {
		a1, a2, b1, b2 := m1[q], m2[q], m3[q], m4[q]
		sa, da := a1+a2, a1-a2
		sb, db := b1+b2, b1-b2
		y0[q] = m0[q] + sa + sb
		y1[q] = winoA*da + winoB*db
		y2[q] = wA2*sa + wB2*sb
		y3[q] = wA3*da + wB3*db + m5[q]
	}
}

// winoG6 computes (u0..u5) = G (g0, g1, g2) for F(4, 3).
func winoG6(u0, u1, u2, u3, u4, u5, g0, g1, g2 []float32) {
	n := len(u0)
	u1, u2, u3, u4, u5 = u1[:n], u2[:n], u3[:n], u4[:n], u5[:n]
	g0, g1, g2 = g0[:n], g1[:n], g2[:n]
	for q := range u0 {
		x0, x1, x2 := g0[q], g1[q], g2[q]
		u0[q] = wG0 * x0
		e := wGA * (x0 + wA2*x2)
		o := (wGA * winoA) * x1
		u1[q] = e + o
		u2[q] = e - o
		e = wGB * (x0 + wB2*x2)
		o = (wGB * winoB) * x1
		u3[q] = e + o
		u4[q] = e - o
		u5[q] = x2
	}
}

// winoBT4 computes (o0..o3) = Bᵀ (d0..d3) for F(2, 3).
func winoBT4(o0, o1, o2, o3, d0, d1, d2, d3 []float32) {
	n := len(o0)
	o1, o2, o3 = o1[:n], o2[:n], o3[:n]
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	for q := range o0 {
		x1, x2 := d1[q], d2[q]
		o0[q] = x2 - d0[q]
		o1[q] = x1 + x2
		o2[q] = x2 - x1
		o3[q] = d3[q] - x1
	}
}

// winoAT4 computes (y0, y1) = Aᵀ (m0..m3) for F(2, 3).
func winoAT4(y0, y1, m0, m1, m2, m3 []float32) {
	n := len(y0)
	y1 = y1[:n]
	m0, m1, m2, m3 = m0[:n], m1[:n], m2[:n], m3[:n]
	for q := range y0 {
		a1, a2 := m1[q], m2[q]
		y0[q] = m0[q] + a1 + a2
		y1[q] = a1 - a2 + m3[q]
	}
}

// winoG4 computes (u0..u3) = G (g0, g1, g2) for F(2, 3).
func winoG4(u0, u1, u2, u3, g0, g1, g2 []float32) {
	n := len(u0)
	u1, u2, u3 = u1[:n], u2[:n], u3[:n]
	g0, g1, g2 = g0[:n], g1[:n], g2[:n]
	for q := range u0 {
		x0, x1, x2 := g0[q], g1[q], g2[q]
		u0[q] = -x0
		e := 0.5 * (x0 + x2)
		o := 0.5 * x1
		u1[q] = e + o
		u2[q] = e - o
		u3[q] = x2
	}
}

// Activation functions shared by the eltwise shader variants. Written to stay finite for any finite input: the
// built-in tanh may be computed as (e^2u - 1) / (e^2u + 1), which gives inf/inf = NaN for large |u| on some drivers.

const float GELU_SCALE = 0.7978845608028654;   // sqrt(2/pi)
const float GELU_CUBE = 0.044715;

// exp(-|x|) <= 1 never overflows.
float safe_tanh(float u) {
    float e = exp(-2.0 * abs(u));
    float t = (1.0 - e) / (1.0 + e);
    return u < 0.0 ? -t : t;
}

float safe_sigmoid(float x) {
    float e = exp(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

float gelu(float x) {
    float u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
    return 0.5 * x * (1.0 + safe_tanh(u));
}

// 1 - tanh(u)^2 is formed as 4e / (1 + e)^2 with e = exp(-2|u|): the subtraction 1 - t*t cancels as |u| grows and
// multiplies the error of t by x * du, which is large there.
float gelu_grad(float x) {
    float u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
    float e = exp(-2.0 * abs(u));
    float t = (1.0 - e) / (1.0 + e);
    if (u < 0.0) t = -t;
    float sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
    float du = GELU_SCALE * (1.0 + 3.0 * GELU_CUBE * x * x);
    return 0.5 * (1.0 + t) + 0.5 * x * sech2 * du;
}

// d/dx (x * sigmoid(x)) = s * (1 + x * (1 - s))
float silu_grad(float x) {
    float s = safe_sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
}

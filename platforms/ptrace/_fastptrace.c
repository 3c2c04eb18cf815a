/*
 * ptrace(2) for the Sentry's hot path, without ctypes.
 *
 * Every trapped system call makes three ptrace calls (set the return value, resume with
 * PTRACE_SYSEMU, read the registers at the next stop), and every injected host call several
 * more. Through ctypes each costs ~1.3 µs of argument conversion and errno bookkeeping on top
 * of the kernel's work; called here it costs ~0.1 µs. platforms/ptrace/binding.py uses this
 * module when it was built (pip builds it with the package) and ctypes otherwise; both behave
 * the same.
 *
 * Copyright (C) the Sentrio authors. GPL-2.0-or-later.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <sys/ptrace.h>

/* The exception raised on failure: binding.PtraceError, set by set_error_type(). */
static PyObject *error_type = NULL;

static PyObject *
fast_ptrace(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError, "ptrace(request, tid, addr=0, data=0) takes two to four arguments");
        return NULL;
    }
    long request = PyLong_AsLong(args[0]);
    long tid = PyLong_AsLong(args[1]);
    /* Addresses and register values are 64-bit unsigned; negative ints wrap as in C. */
    unsigned long addr = nargs > 2 ? PyLong_AsUnsignedLongMask(args[2]) : 0;
    unsigned long data = nargs > 3 ? PyLong_AsUnsignedLongMask(args[3]) : 0;
    if (PyErr_Occurred())
        return NULL;
    /* The GIL is let go during the call, as ctypes did: a request can wait in the kernel for
     * the tracee to leave its CPU, and no other thread of the Sentry need wait with it. */
    long result;
    int error;
    Py_BEGIN_ALLOW_THREADS
    errno = 0;
    result = ptrace((enum __ptrace_request)request, (pid_t)tid, (void *)addr, (void *)data);
    error = errno;
    Py_END_ALLOW_THREADS
    if (result == -1 && error != 0) {  /* a PEEK may return -1 with errno 0: that is a value */
        PyObject *type = error_type != NULL ? error_type : PyExc_OSError;
        PyObject *message = PyUnicode_FromFormat("ptrace(%ld, %ld): %s", request, tid, strerror(error));
        if (message == NULL)
            return NULL;
        PyObject *exception = PyObject_CallFunction(type, "iO", error, message);
        Py_DECREF(message);
        if (exception != NULL) {
            PyErr_SetObject(type, exception);
            Py_DECREF(exception);
        }
        return NULL;
    }
    return PyLong_FromLong(result);
}

static PyObject *
set_error_type(PyObject *module, PyObject *type)
{
    Py_XSETREF(error_type, Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ptrace", (PyCFunction)(void (*)(void))fast_ptrace, METH_FASTCALL,
     "ptrace(request, tid, addr=0, data=0) -> int: the call's result; raises the error type on failure."},
    {"set_error_type", set_error_type, METH_O, "The exception class ptrace raises (an OSError)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastptrace", "ptrace(2) for the Sentry's hot path.", -1, methods,
};

PyMODINIT_FUNC
PyInit__fastptrace(void)
{
    return PyModule_Create(&module);
}

// FACADE (compile-time only, never deployed): nanoFramework.TestFramework 3.0.80 — reference §9.
// Only the attributes and Assert overloads SensorNode.Firmware.NanoTests uses.
using System;

namespace nanoFramework.TestFramework
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class TestClassAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestMethodAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class SetupAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class CleanupAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class DataRowAttribute : Attribute
    {
        public DataRowAttribute(params object[] methodParameters)
        {
            throw new NotImplementedException();
        }
    }

    public static class Assert
    {
        public static void AreEqual(int expected, int actual, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void AreEqual(long expected, long actual, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void AreEqual(double expected, double actual, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void AreEqual(string expected, string actual, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void IsTrue(bool condition, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void IsFalse(bool condition, string message = null)
        {
            throw new NotImplementedException();
        }

        public static void StartsWith(string expected, string value, string message = null)
        {
            throw new NotImplementedException();
        }
    }
}

using System.IO;
using System.Text;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary><see cref="IConfigStore"/> on a file of the internal flash drive (reference §8), written by nanoff --filedeployment.</summary>
    public sealed class FileConfigStore : IConfigStore
    {
        private const int MaxBytes = 8192;

        public FileConfigStore(string path)
        {
            Location = path;
        }

        public string Location { get; }

        public string ReadText()
        {
            if (!File.Exists(Location))
            {
                return null;
            }

            using (var stream = new FileStream(Location, FileMode.Open))
            {
                long length = stream.Length;
                byte[] bytes = new byte[length > MaxBytes ? MaxBytes : (int)length];
                int total = 0;
                while (total < bytes.Length)
                {
                    int read = stream.Read(bytes, total, bytes.Length - total);
                    if (read <= 0)
                    {
                        break;
                    }

                    total += read;
                }

                return Encoding.UTF8.GetString(bytes, 0, total);
            }
        }
    }
}
